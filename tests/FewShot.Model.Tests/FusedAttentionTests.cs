using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Model.Tests;

/// <summary>The fused short-sequence attention against libtorch's causal attention: values and gradients.</summary>
[Collection(ProcessWideSettings.Collection)]
public sealed class FusedAttentionTests
{
    [Theory]
    [InlineData(2, 64, 4, 32)] // the Shakespeare model's heads
    [InlineData(3, 37, 2, 16)] // a length that is not a multiple of 16: padded score rows
    [InlineData(1, 1, 1, 16)]  // a single token
    public void FusedAttentionMatchesLibtorch(int batch, int length, int heads, int headSize)
    {
        using var oneThread = new OneIntraOpThread();
        var C = heads * headSize;
        var qkv = randn(batch, length, 3 * C, generator: new Generator(11));
        var ours = qkv.clone().requires_grad_();
        var theirs = qkv.clone().requires_grad_();
        var upstream = randn(batch, length, C, generator: new Generator(12));

        Assert.True(FusedAttention.Applies(ours, heads, dropout: 0));
        var y = FusedAttention.Apply(ours, heads);
        var parts = theirs.view(batch, length, 3, heads, headSize).permute(2, 0, 3, 1, 4);
        var expected = F.scaled_dot_product_attention(parts[0], parts[1], parts[2], is_casual: true)
            .transpose(1, 2).contiguous().view(batch, length, C);
        (y * upstream).sum().backward();
        (expected * upstream).sum().backward();

        Assert.Equal(expected.shape, y.shape);
        Assert.True(y.detach().allclose(expected.detach(), rtol: 1e-5, atol: 1e-5), $"values: {(y - expected).abs().max().item<float>()}");
        Assert.True(ours.grad!.allclose(theirs.grad!, rtol: 1e-4, atol: 1e-5), $"gradients: {(ours.grad! - theirs.grad!).abs().max().item<float>()}");
    }

    [Fact]
    public void DropoutLongContextsAndOddHeadsTakeLibtorch()
    {
        using var oneThread = new OneIntraOpThread();
        Assert.False(FusedAttention.Applies(zeros(1, 8, 3 * 64), heads: 2, dropout: 0.1));
        Assert.False(FusedAttention.Applies(zeros(1, FusedAttention.MaxContext + 1, 3 * 64), heads: 2, dropout: 0));
        Assert.False(FusedAttention.Applies(zeros(257, 256, 3 * 64), heads: 1, dropout: 0)); // past MaxProbabilities
        Assert.False(FusedAttention.Applies(zeros(1, 8, 3 * 24), heads: 2, dropout: 0)); // heads of 12
        Assert.False(FusedAttention.Applies(zeros(1, 8, 3 * 64, dtype: ScalarType.Float64), heads: 2, dropout: 0));
    }
}
