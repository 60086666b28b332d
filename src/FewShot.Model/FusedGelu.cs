using FewShot.Model.Inference;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Model;

/// <summary>
/// GELU with the tanh approximation (GPT-2/3's), forward and backward each one pass of the vector kernels in
/// <see cref="Kernels"/> on the CPU. libtorch's tanh GELU costs ~3 ns a float each way here (its exact erf GELU ~1):
/// on the 0.8M-parameter Shakespeare model the MLP's GELU was ~10% of a training step. Other devices and dtypes take
/// libtorch's. The kernels agree with libtorch's to float rounding (test <c>FusedGeluMatchesLibtorch</c>).
/// </summary>
public static class FusedGelu
{
    /// <summary>GELU(x), tanh approximation, differentiable.</summary>
    public static Tensor Apply(Tensor x) =>
        x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && x.numel() * sizeof(float) <= int.MaxValue
            ? GeluFunction.apply(x)
            : F.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh);

    /// <summary>The autograd node: saves its input, recomputes tanh on the way back (cheaper than storing it).</summary>
    sealed class GeluFunction : autograd.SingleTensorFunction<GeluFunction>
    {
        public override string Name => "GeluTanhBackward";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var x = ((Tensor)vars[0]).contiguous();
            ctx.save_for_backward([x]);
            var y = empty_like(x);
            unsafe
            {
                fixed (byte* input = x.bytes, output = y.bytes)
                    Kernels.Gelu((float*)input, (float*)output, x.numel());
            }
            return y;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var x = ctx.get_saved_variables()[0];
            var dy = gradOutput.contiguous();
            var dx = empty_like(x);
            unsafe
            {
                fixed (byte* input = x.bytes, upstream = dy.bytes, output = dx.bytes)
                    Kernels.GeluBackward((float*)input, (float*)upstream, (float*)output, x.numel());
            }
            return [dx];
        }
    }
}
