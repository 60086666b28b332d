using FewShot.Model.Inference;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Model.Tests;

/// <summary>The fused GELU (tanh approximation) against libtorch's: values and gradients to float rounding.</summary>
[Collection(ProcessWideSettings.Collection)]
public sealed class FusedGeluTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FusedGeluMatchesLibtorch(bool vectors)
    {
        var path = new KernelPath(vectors);
        try
        {
            // (3, 1000): values across GELU's whole range, its tails where tanh saturates, and a length that leaves a
            // remainder after the 16-wide vector loop.
            var values = linspace(-30, 30, 3001, dtype: ScalarType.Float32)[..3000].view(3, 1000);
            var ours = values.clone().requires_grad_();
            var theirs = values.clone().requires_grad_();
            var upstream = randn(3, 1000, generator: new Generator(3));

            var y = FusedGelu.Apply(ours);
            var expected = F.gelu(theirs, TorchSharp.Modules.GELU.Approximate.tanh);
            (y * upstream).sum().backward();
            (expected * upstream).sum().backward();

            Assert.Equal(expected.shape, y.shape);
            // Relative to the value's own size: ~2 float roundings (libtorch's tanh and ours differ in the last bits).
            Assert.True(y.detach().allclose(expected.detach(), rtol: 1e-6, atol: 1e-6), $"values: {(y - expected).abs().max().item<float>()}");
            Assert.True(ours.grad!.allclose(theirs.grad!, rtol: 1e-5, atol: 1e-6), $"gradients: {(ours.grad! - theirs.grad!).abs().max().item<float>()}");
        }
        finally { path.Dispose(); }
    }

    [Fact]
    public void NonContiguousInputsAndOtherDtypesWork()
    {
        var x = randn(8, 6, generator: new Generator(4)).t(); // a transposed view
        Assert.True(FusedGelu.Apply(x).allclose(F.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh), rtol: 1e-6, atol: 1e-6));
        var d = x.to(ScalarType.Float64);
        Assert.True(FusedGelu.Apply(d).allclose(F.gelu(d, TorchSharp.Modules.GELU.Approximate.tanh)));
    }
}
