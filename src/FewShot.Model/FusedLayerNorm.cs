using FewShot.Model.Inference;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FewShot.Model;

/// <summary>
/// LayerNorm over the last dimension, forward and backward each one pass of <see cref="Kernels"/> per row (the gain
/// and bias gradients collected as the rows go), when it runs on one CPU thread in float32 (the same rule as
/// <see cref="FusedLinear"/>), so that a small model's replica step runs on the fused kernels throughout. libtorch's
/// LayerNorm was ~1% of that step, and this one measured the same (docs/training.md, "Fourth pass"). Values and
/// gradients equal libtorch's to float summation order (test <c>FusedLayerNormMatchesLibtorch</c>).
/// </summary>
public static class FusedLayerNorm
{
    /// <summary>layer(x) for x (..., C), differentiable.</summary>
    public static Tensor Forward(LayerNorm layer, Tensor x, double eps)
    {
        if (layer.weight is not { } gain || !UsesKernels(x, gain)) return layer.forward(x);
        return layer.bias is { } bias ? LayerNormFunction.apply(x, gain, bias, eps) : LayerNormFunction.apply(x, gain, eps);
    }

    /// <summary>Whether LayerNorm with this gain runs on <see cref="Kernels"/> (otherwise libtorch's).</summary>
    public static bool UsesKernels(Tensor x, Tensor gain) => FusedLinear.RunsOnOneThread(x) && gain.dtype == ScalarType.Float32;

    /// <summary>The autograd node: saves the input (rows, C), the gain, and each row's mean and inverse deviation.</summary>
    sealed class LayerNormFunction : autograd.SingleTensorFunction<LayerNormFunction>
    {
        public override string Name => "FusedLayerNormBackward";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, gain) = ((Tensor)vars[0], (Tensor)vars[1]);
            var bias = vars.Length > 3 ? (Tensor)vars[2] : null;
            var eps = (float)(double)vars[^1];
            var C = (int)gain.shape[0];
            var input = x.reshape(-1, C).contiguous(); // (rows, C)
            var rows = (int)input.shape[0];
            var output = empty_like(input);
            var statistics = empty([rows, 2], ScalarType.Float32); // per row: mean, 1 / sqrt(var + eps)
            unsafe
            {
                fixed (byte* xs = input.bytes, ys = output.bytes, g = gain.bytes, b = bias is null ? default : bias.bytes, st = statistics.bytes)
                {
                    var stats = (float*)st;
                    for (var r = 0; r < rows; r++)
                        (stats[2 * r], stats[2 * r + 1]) = Kernels.LayerNorm((float*)xs + (long)r * C, (float*)ys + (long)r * C, C, (float*)g, (float*)b, eps);
                }
            }
            ctx.save_for_backward([input, gain, statistics]);
            ctx.save_data("shape", x.shape);
            ctx.save_data("bias", bias is not null);
            return output.view(x.shape);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var (input, gain, statistics) = (saved[0], saved[1], saved[2]);
            var (rows, C) = ((int)input.shape[0], (int)input.shape[1]);
            var hasBias = (bool)ctx.get_data("bias");
            using var gradY = gradOutput.reshape(-1, C).contiguous(); // (rows, C)
            var gradX = empty_like(input);
            var gradGain = zeros(C, ScalarType.Float32);
            var gradBias = hasBias ? zeros(C, ScalarType.Float32) : null;
            unsafe
            {
                fixed (byte* xs = input.bytes, dy = gradY.bytes, dx = gradX.bytes, g = gain.bytes, st = statistics.bytes,
                       dg = gradGain.bytes, db = gradBias is null ? default : gradBias.bytes)
                {
                    var stats = (float*)st;
                    for (var r = 0; r < rows; r++)
                    {
                        var offset = (long)r * C;
                        Kernels.LayerNormBackward((float*)xs + offset, (float*)dy + offset, (float*)dx + offset, C, (float*)g,
                            stats[2 * r], stats[2 * r + 1], (float*)dg, (float*)db);
                    }
                }
            }
            var gradients = new List<Tensor> { gradX.view((long[])ctx.get_data("shape")), gradGain };
            if (gradBias is not null) gradients.Add(gradBias);
            gradients.Add(null!); // eps
            return gradients;
        }
    }
}
