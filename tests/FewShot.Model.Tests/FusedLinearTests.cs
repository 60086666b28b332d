using FewShot.Model.Inference;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Model.Tests;

/// <summary>The GEMM kernel and the linear layer built on it, against libtorch's products.</summary>
[Collection(ProcessWideSettings.Collection)]
public sealed class FusedLinearTests
{
    [Theory]
    [InlineData(384, 128, 384)] // a Shakespeare c_attn: full 6-row tiles and 32-column panels
    [InlineData(13, 48, 7)]     // rows left over from the 6-row tiles, a 16-column panel, a short inner dimension
    [InlineData(64, 64, 32)]    // an attention head's scores: ten 6-row tiles and one of 4
    [InlineData(1030, 32, 9)]   // enough rows that a row-major B is packed too; 8 x 8 blocks plus one row of B left
    [InlineData(1, 16, 1)]
    public unsafe void GemmMatchesLibtorchWithEveryLayoutOfItsInputs(int m, int n, int k)
    {
        var generator = new Generator(5);
        var a = randn(m, k, generator: generator);
        var aTransposed = a.t().contiguous(); // (k, m): the same A read with swapped strides
        var b = randn(k, n, generator: generator);
        var bTransposed = b.t().contiguous(); // (n, k): the same B read with swapped strides
        var bias = randn(n, generator: generator);
        var previous = randn(m, n, generator: generator);
        var expected = mm(a, b);
        foreach (var (source, rowStride, columnStride, right, bRowStride, bColumnStride) in new[]
            { (a, (long)k, 1L, b, (long)n, 1L), (aTransposed, 1L, (long)m, b, (long)n, 1L), (a, k, 1, bTransposed, 1, k) })
        {
            var plain = empty(m, n);
            var withBias = empty(m, n);
            var accumulated = previous.clone();
            fixed (byte* pa = source.bytes, pb = right.bytes, pc = plain.bytes, pw = withBias.bytes, pacc = accumulated.bytes, pbias = bias.bytes)
            {
                Gemm.Multiply(m, n, k, (float*)pa, rowStride, columnStride, (float*)pb, bRowStride, bColumnStride, (float*)pc, n, null, accumulate: false);
                Gemm.Multiply(m, n, k, (float*)pa, rowStride, columnStride, (float*)pb, bRowStride, bColumnStride, (float*)pw, n, (float*)pbias, accumulate: false);
                Gemm.Multiply(m, n, k, (float*)pa, rowStride, columnStride, (float*)pb, bRowStride, bColumnStride, (float*)pacc, n, null, accumulate: true);
            }
            Assert.True(plain.allclose(expected, rtol: 1e-5, atol: 1e-4), $"A strides ({rowStride}, {columnStride}), B strides ({bRowStride}, {bColumnStride}): {(plain - expected).abs().max().item<float>()}");
            Assert.True(withBias.allclose(expected + bias, rtol: 1e-5, atol: 1e-4));
            Assert.True(accumulated.allclose(expected + previous, rtol: 1e-5, atol: 1e-4));
        }
    }

    [Theory]
    [InlineData(64, 32)] // an attention head's keys: whole 8 x 8 blocks
    [InlineData(37, 13)] // edges in both directions
    [InlineData(1, 32)]
    [InlineData(8, 8)]
    public unsafe void TransposeMatchesLibtorch(int rows, int cols)
    {
        var source = randn(rows, cols + 5, generator: new Generator(9)); // rows cols + 5 apart, as q, k, v sit in c_attn's output
        var target = full(cols, rows + 3, float.NaN);                     // rows + 3 apart; the 3 extra columns stay untouched
        fixed (byte* from = source.bytes, to = target.bytes)
            Gemm.Transpose((float*)from, rows, cols, cols + 5, (float*)to, rows + 3);
        Assert.True(target[.., ..rows].eq(source[.., ..cols].t()).all().item<bool>());
        Assert.True(target[.., rows..].isnan().all().item<bool>());
    }

    [Fact]
    public void GemmRefusesWidthsTheKernelsCannotStore()
    {
        var error = Assert.Throws<ArgumentException>(() => { unsafe { Gemm.Multiply(1, 24, 1, null, 1, 1, null, 24, 1, null, 24, null, false); } });
        Assert.Contains("multiple of 16", error.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FusedLinearMatchesLibtorch(bool bias)
    {
        using var oneThread = new OneIntraOpThread();
        var layer = nn.Linear(64, 96, hasBias: bias, dtype: ScalarType.Float32);
        var x = randn(3, 10, 64, generator: new Generator(6));
        var ours = x.clone().requires_grad_();
        var theirs = x.clone().requires_grad_();
        var upstream = randn(3, 10, 96, generator: new Generator(7));

        var y = FusedLinear.Forward(layer, ours);
        Assert.True(FusedLinear.UsesKernels(ours, layer.weight!));
        (y * upstream).sum().backward();
        var gradW = layer.weight!.grad!.clone();
        var gradB = bias ? layer.bias!.grad!.clone() : null;
        layer.zero_grad();
        var expected = layer.forward(theirs);
        (expected * upstream).sum().backward();

        Assert.Equal(expected.shape, y.shape);
        Assert.True(y.detach().allclose(expected.detach(), rtol: 1e-5, atol: 1e-5), $"values: {(y - expected).abs().max().item<float>()}");
        Assert.True(ours.grad!.allclose(theirs.grad!, rtol: 1e-5, atol: 1e-5), "input gradient");
        Assert.True(gradW.allclose(layer.weight!.grad!, rtol: 1e-5, atol: 1e-4), "weight gradient");
        if (bias) Assert.True(gradB!.allclose(layer.bias!.grad!, rtol: 1e-5, atol: 1e-4), "bias gradient");
    }

    [Fact]
    public void OtherShapesAndDtypesTakeLibtorch()
    {
        using var oneThread = new OneIntraOpThread();
        var odd = nn.Linear(64, 65); // the output width is not a multiple of 16
        var x = randn(2, 64, generator: new Generator(8));
        Assert.False(FusedLinear.UsesKernels(x, odd.weight!));
        Assert.True(FusedLinear.Forward(odd, x).allclose(odd.forward(x)));
        var wide = nn.Linear(64, 96, dtype: ScalarType.Float64);
        var d = x.to(ScalarType.Float64);
        Assert.False(FusedLinear.UsesKernels(d, wide.weight!));
        Assert.True(FusedLinear.Forward(wide, d).allclose(wide.forward(d)));
    }
}
