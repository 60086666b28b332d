using FewShot.Model.Inference;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

/// <summary>The fused LayerNorm against libtorch's: values and the three gradients to float summation order.</summary>
[Collection(ProcessWideSettings.Collection)]
public sealed class FusedLayerNormTests
{
    [Theory]
    [InlineData(128, true, true)]  // the Shakespeare model's width, 8 vectors a row
    [InlineData(72, true, true)]   // 4 vectors and a scalar remainder of 8
    [InlineData(72, false, true)]  // the scalar path alone
    [InlineData(128, true, false)] // no bias (GptConfig.Bias false)
    public void FusedLayerNormMatchesLibtorch(int width, bool vectors, bool bias)
    {
        using var oneThread = new OneIntraOpThread();
        var path = new KernelPath(vectors);
        try
        {
            var generator = new Generator(11);
            var layer = nn.LayerNorm(width, 1e-5, bias: bias);
            using (no_grad())
            {
                layer.weight!.copy_(1 + 0.5 * randn(width, generator: generator)); // a gain that is not all ones
                layer.bias?.copy_(randn(width, generator: generator));
            }
            // Rows whose mean is far from zero and whose spread differs row to row: what residual streams look like.
            var x = 4 + randn(3, 10, width, generator: generator) * (0.5 + rand(3, 10, 1, generator: generator) * 3);
            var ours = x.clone().requires_grad_();
            var theirs = x.clone().requires_grad_();
            var upstream = randn(3, 10, width, generator: generator);

            Assert.True(FusedLayerNorm.UsesKernels(ours, layer.weight!));
            var y = FusedLayerNorm.Forward(layer, ours, 1e-5);
            (y * upstream).sum().backward();
            var gradGain = layer.weight!.grad!.clone();
            var gradBias = bias ? layer.bias!.grad!.clone() : null;
            layer.zero_grad();
            var expected = layer.forward(theirs);
            (expected * upstream).sum().backward();

            Assert.Equal(expected.shape, y.shape);
            Assert.True(y.detach().allclose(expected.detach(), rtol: 1e-5, atol: 1e-5), $"values: {(y - expected).abs().max().item<float>()}");
            Assert.True(ours.grad!.allclose(theirs.grad!, rtol: 1e-4, atol: 1e-5), $"input gradient: {(ours.grad! - theirs.grad!).abs().max().item<float>()}");
            Assert.True(gradGain.allclose(layer.weight!.grad!, rtol: 1e-5, atol: 1e-4), "gain gradient");
            if (bias) Assert.True(gradBias!.allclose(layer.bias!.grad!, rtol: 1e-5, atol: 1e-4), "bias gradient");
        }
        finally { path.Dispose(); }
    }

    [Fact]
    public void SeveralThreadsAndOtherDtypesTakeLibtorchsLayerNorm()
    {
        var layer = nn.LayerNorm(32);
        var x = randn(2, 5, 32, generator: new Generator(12));
        using (var oneThread = new OneIntraOpThread())
        {
            Assert.True(FusedLayerNorm.UsesKernels(x, layer.weight!));
            var layer64 = nn.LayerNorm(32, dtype: ScalarType.Float64);
            var d = x.to(ScalarType.Float64);
            Assert.False(FusedLayerNorm.UsesKernels(d, layer64.weight!));
            Assert.True(FusedLayerNorm.Forward(layer64, d, 1e-5).allclose(layer64.forward(d)));
        }
        var previous = get_num_threads();
        set_num_threads(2);
        try
        {
            Assert.False(FusedLayerNorm.UsesKernels(x, layer.weight!));
            Assert.True(FusedLayerNorm.Forward(layer, x, 1e-5).allclose(layer.forward(x)));
        }
        finally { set_num_threads(previous); }
    }
}
