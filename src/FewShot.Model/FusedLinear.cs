using FewShot.Model.Inference;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FewShot.Model;

/// <summary>
/// A linear layer's x W^T + b, forward and backward, by <see cref="Gemm"/> when the product runs on one CPU thread
/// (small models train with one thread per replica): the bias is added as the product is stored, and backward is two
/// products read in place (dX = dY W, dW = dY^T X) and a column sum. libtorch takes every other case (other devices
/// and dtypes, several intra-op threads, widths not a multiple of 16, CPUs without AVX-512). Values and gradients
/// equal libtorch's to float summation order (test <c>FusedLinearMatchesLibtorch</c>).
/// </summary>
public static class FusedLinear
{
    /// <summary>layer(x) for x (..., in) -> (..., out), differentiable.</summary>
    public static Tensor Forward(Linear layer, Tensor x)
    {
        var weight = layer.weight!;
        if (!UsesKernels(x, weight)) return layer.forward(x);
        return layer.bias is { } bias ? LinearFunction.apply(x, weight, bias) : LinearFunction.apply(x, weight);
    }

    /// <summary>Whether x W^T runs on <see cref="Gemm"/> (otherwise libtorch's).</summary>
    public static bool UsesKernels(Tensor x, Tensor weight) =>
        RunsOnOneThread(x) && weight.dtype == ScalarType.Float32
        && weight.shape[0] % Gemm.ColumnMultiple == 0 && weight.shape[1] % Gemm.ColumnMultiple == 0
        && x.numel() / weight.shape[1] * weight.shape[0] <= int.MaxValue;

    /// <summary>
    /// The rule for every fused training kernel: float32 on the CPU with AVX-512 and one intra-op thread (the
    /// small-model replicas), and at most int.MaxValue elements. Elsewhere libtorch's own kernels are faster or needed.
    /// </summary>
    public static bool RunsOnOneThread(Tensor x) =>
        Gemm.IsSupported && x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && x.numel() <= int.MaxValue
        && get_num_threads() == 1;

    /// <summary>The autograd node: saves the input as (rows, in) and the weight; backward recomputes nothing.</summary>
    sealed class LinearFunction : autograd.SingleTensorFunction<LinearFunction>
    {
        public override string Name => "FusedLinearBackward";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, weight, bias) = ((Tensor)vars[0], (Tensor)vars[1], vars.Length > 2 ? (Tensor)vars[2] : null);
            var (outFeatures, inFeatures) = ((int)weight.shape[0], (int)weight.shape[1]);
            var input = x.reshape(-1, inFeatures).contiguous();                 // (rows, in)
            var rows = (int)input.shape[0];
            var output = empty([rows, outFeatures], ScalarType.Float32);
            unsafe
            {
                // y (rows, out) = x (rows, in) W^T (in, out): W (out, in) read transposed in place, the bias added as y is stored
                fixed (byte* a = input.bytes, w = weight.bytes, c = output.bytes, bb = bias is null ? default : bias.bytes)
                    Gemm.Multiply(rows, outFeatures, inFeatures, (float*)a, inFeatures, 1, (float*)w, 1, inFeatures,
                        (float*)c, outFeatures, (float*)bb, accumulate: false);
            }
            ctx.save_for_backward([input, weight]);
            ctx.save_data("shape", x.shape);
            ctx.save_data("bias", bias is not null);
            return output.view([.. x.shape[..^1], outFeatures]);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var (input, weight) = (saved[0], saved[1]);
            var (outFeatures, inFeatures, rows) = ((int)weight.shape[0], (int)weight.shape[1], (int)input.shape[0]);
            using var gradY = gradOutput.reshape(-1, outFeatures).contiguous();   // (rows, out)
            var gradX = empty([rows, inFeatures], ScalarType.Float32);
            var gradW = empty([outFeatures, inFeatures], ScalarType.Float32);
            unsafe
            {
                fixed (byte* dy = gradY.bytes, w = weight.bytes, x = input.bytes, dx = gradX.bytes, dw = gradW.bytes)
                {
                    // dX (rows, in) = dY (rows, out) W (out, in)
                    Gemm.Multiply(rows, inFeatures, outFeatures, (float*)dy, outFeatures, 1, (float*)w, inFeatures, 1,
                        (float*)dx, inFeatures, null, accumulate: false);
                    // dW (out, in) = dY^T (out, rows) X (rows, in): dY read transposed in place
                    Gemm.Multiply(outFeatures, inFeatures, rows, (float*)dy, 1, outFeatures, (float*)x, inFeatures, 1,
                        (float*)dw, inFeatures, null, accumulate: false);
                }
            }
            var shape = (long[])ctx.get_data("shape");
            var gradients = new List<Tensor> { gradX.view(shape), gradW };
            if ((bool)ctx.get_data("bias")) gradients.Add(gradY.sum(dim: 0)); // the bias: column sums of dY
            return gradients;
        }
    }
}
