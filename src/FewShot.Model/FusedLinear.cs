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
/// equal libtorch's to float summation order (test <c>FusedLinearMatchesLibtorch</c>). With
/// <see cref="MatrixPrecision.BFloat16"/> the three products take bfloat16 inputs instead (<see cref="BFloat16Function"/>).
/// </summary>
public static class FusedLinear
{
    /// <summary>layer(x) for x (..., in) -> (..., out), differentiable, its products in <paramref name="precision"/>.</summary>
    public static Tensor Forward(Linear layer, Tensor x, MatrixPrecision precision = MatrixPrecision.Float32)
    {
        var weight = layer.weight!;
        if (precision == MatrixPrecision.BFloat16 && x.numel() / weight.shape[1] >= BFloat16MinimumRows && weight.dtype == ScalarType.Float32)
            return layer.bias is { } b ? BFloat16Function.apply(x, weight, b) : BFloat16Function.apply(x, weight);
        if (!UsesKernels(x, weight)) return layer.forward(x);
        return layer.bias is { } bias ? LinearFunction.apply(x, weight, bias) : LinearFunction.apply(x, weight);
    }

    /// <summary>
    /// Rows below which bfloat16 products are not worth their conversions and calls: decoding (a few rows a step)
    /// stays float32 whatever the precision. Training micro-batches and validation chunks have hundreds.
    /// </summary>
    public const int BFloat16MinimumRows = 64;

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

    /// <summary>
    /// Mixed precision: y = bf16(x) bf16(W)^T + b, dX = bf16(dY) bf16(W), dW = bf16(dY)^T bf16(x), each product by
    /// libtorch (oneDNN: bfloat16 multiplies, float32 sums) and widened back to float32; the bias and its gradient
    /// stay float32. Saves the bfloat16 input and weight, half the bytes of float32 ones. On the CPU the conversions
    /// are <see cref="BFloat16Kernels"/>, elsewhere libtorch's.
    /// </summary>
    sealed class BFloat16Function : autograd.SingleTensorFunction<BFloat16Function>
    {
        public override string Name => "BFloat16LinearBackward";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, weight, bias) = ((Tensor)vars[0], (Tensor)vars[1], vars.Length > 2 ? (Tensor)vars[2] : null);
            using var _ = no_grad();
            var input = Round(x.reshape(-1, weight.shape[1]));   // (rows, in)
            var weight16 = Round(weight);                        // (out, in)
            using var product = mm(input, weight16.t());         // (rows, out)
            ctx.save_for_backward([input, weight16]);
            ctx.save_data("shape", x.shape);
            ctx.save_data("bias", bias is not null);
            return Widen(product, bias).view([.. x.shape[..^1], weight.shape[0]]);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var (input, weight16) = (saved[0], saved[1]);
            using var _ = no_grad();
            using var gradY = gradOutput.reshape(-1, weight16.shape[0]);   // (rows, out)
            using var gradY16 = Round(gradY);
            using var gradX16 = mm(gradY16, weight16);                     // (rows, in)
            using var gradW16 = mm(gradY16.t(), input);                    // (out, in)
            var gradients = new List<Tensor> { Widen(gradX16, null).view((long[])ctx.get_data("shape")), Widen(gradW16, null) };
            if ((bool)ctx.get_data("bias")) gradients.Add(gradY.sum(dim: 0));
            return gradients;
        }

        /// <summary>bfloat16(x) for a float32 matrix x.</summary>
        static Tensor Round(Tensor x)
        {
            if (x.device_type != DeviceType.CPU) return x.to(ScalarType.BFloat16);
            using var source = x.contiguous();
            var rounded = empty(source.shape, ScalarType.BFloat16);
            unsafe
            {
                fixed (byte* from = source.bytes, to = rounded.bytes)
                    BFloat16Kernels.Round((float*)from, (ushort*)to, source.numel());
            }
            return rounded;
        }

        /// <summary>float32(x) + bias for a bfloat16 matrix x (rows, columns) and a float32 bias (columns) or none.</summary>
        static Tensor Widen(Tensor x, Tensor? bias)
        {
            if (x.device_type != DeviceType.CPU) return bias is null ? x.to(ScalarType.Float32) : x.to(ScalarType.Float32).add_(bias);
            using var source = x.contiguous();
            var widened = empty(source.shape, ScalarType.Float32);
            unsafe
            {
                fixed (byte* from = source.bytes, to = widened.bytes, b = bias is null ? default : bias.bytes)
                    BFloat16Kernels.Widen((ushort*)from, (float*)to, (float*)b, source.shape[0], (int)source.shape[1]);
            }
            return widened;
        }
    }
}
