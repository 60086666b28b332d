using FewShot.Model.Inference;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

/// <summary>Bfloat16 products (<see cref="MatrixPrecision.BFloat16"/>): the conversions, the linear layer, the model.</summary>
[Collection(ProcessWideSettings.Collection)]
public sealed class MixedPrecisionTests
{
    /// <summary>Normal values, ties at every rounding bit, denormals, signed zeros, infinities, NaN, the largest floats.</summary>
    static Tensor Awkward(int n)
    {
        var values = randn(n, generator: new Generator(3)) * 10;
        var special = new[]
        {
            0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, -float.MaxValue, float.Epsilon, -1e-40f,
            BitConverter.UInt32BitsToSingle(0x3F808000), // 1.00390625: a tie, rounds down to the even 0x3F80
            BitConverter.UInt32BitsToSingle(0x3F818000), // a tie that rounds up to the even 0x3F82
            BitConverter.UInt32BitsToSingle(0x3F808001), // just above a tie
            BitConverter.UInt32BitsToSingle(0x7F7FFFFF), // rounds up to infinity, as libtorch does
        };
        values[..special.Length] = tensor(special);
        return values;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public unsafe void RoundingMatchesLibtorchBitForBit(bool vectors)
    {
        using var path = new KernelPath(vectors);
        var source = Awkward(1000); // 31 x 32 floats and a tail of 8
        var ours = empty(1000, ScalarType.BFloat16);
        fixed (byte* from = source.bytes, to = ours.bytes)
            BFloat16Kernels.Round((float*)from, (ushort*)to, 1000);
        var theirs = source.to(ScalarType.BFloat16);
        Assert.Equal(theirs.bytes.ToArray(), ours.bytes.ToArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public unsafe void WideningIsExactAndAddsTheBias(bool vectors)
    {
        using var path = new KernelPath(vectors);
        var source = Awkward(5 * 40).view(5, 40).to(ScalarType.BFloat16); // 40 columns: one 32-wide step and a tail
        var bias = randn(40, generator: new Generator(4));
        var plain = empty(5, 40);
        var withBias = empty(5, 40);
        fixed (byte* from = source.bytes, p = plain.bytes, w = withBias.bytes, b = bias.bytes)
        {
            BFloat16Kernels.Widen((ushort*)from, (float*)p, null, 5, 40);
            BFloat16Kernels.Widen((ushort*)from, (float*)w, (float*)b, 5, 40);
        }
        var expected = source.to(ScalarType.Float32);
        Assert.True(plain.isnan().eq(expected.isnan()).all().item<bool>());
        Assert.True(plain.nan_to_num().eq(expected.nan_to_num()).all().item<bool>(), "widening is exact");
        Assert.True(withBias.nan_to_num().eq((expected + bias).nan_to_num()).all().item<bool>(), "the bias is added once, in float32");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LinearLayerTakesBFloat16InputsAndFloat32Sums(bool bias)
    {
        using var oneThread = new OneIntraOpThread();
        var layer = nn.Linear(128, 96, hasBias: bias);
        var x = randn(2, 40, 128, generator: new Generator(6)); // 80 rows: over the bfloat16 minimum
        var upstream = randn(2, 40, 96, generator: new Generator(7));
        var ours = x.clone().requires_grad_();
        var y = FusedLinear.Forward(layer, ours, MatrixPrecision.BFloat16);
        (y * upstream).sum().backward();
        var (gradW, gradB) = (layer.weight!.grad!.clone(), bias ? layer.bias!.grad!.clone() : null);

        // The reference: the same products by libtorch from bfloat16 copies, widened to float32.
        using var _ = no_grad();
        Tensor Product(Tensor a, Tensor b) => mm(a.to(ScalarType.BFloat16), b.to(ScalarType.BFloat16)).to(ScalarType.Float32);
        var (rows, dY) = (x.view(80, 128), upstream.view(80, 96));
        var expected = Product(rows, layer.weight!.t());
        if (bias) expected += layer.bias!;
        Assert.True(y.detach().view(80, 96).eq(expected).all().item<bool>(), "values: libtorch's bfloat16 product plus the float32 bias");
        Assert.True(ours.grad!.view(80, 128).eq(Product(dY, layer.weight!)).all().item<bool>(), "input gradient");
        Assert.True(gradW.eq(Product(dY.t(), rows)).all().item<bool>(), "weight gradient");
        if (bias) Assert.True(gradB!.allclose(dY.sum(dim: 0), rtol: 1e-5, atol: 1e-5), "bias gradient: float32 column sums");

        // Within bfloat16's rounding (8 significant bits) of the float32 layer.
        var full = layer.forward(x);
        var error = (y.detach() - full).abs().max().item<float>() / full.abs().max().item<float>();
        Assert.InRange(error, 1e-5f, 2e-2f);
    }

    [Fact]
    public void FewRowsStayFloat32()
    {
        using var oneThread = new OneIntraOpThread();
        var layer = nn.Linear(64, 96);
        var x = randn(1, FusedLinear.BFloat16MinimumRows - 1, 64, generator: new Generator(8)); // a decoding step's few rows
        Assert.True(FusedLinear.Forward(layer, x, MatrixPrecision.BFloat16).eq(FusedLinear.Forward(layer, x)).all().item<bool>());
    }

    [Fact]
    public void ModelSetsEveryBlockAndTrainsAsFloat32Does()
    {
        using var oneThread = new OneIntraOpThread();
        manual_seed(11);
        var model = new Gpt(new GptConfig { Layers = 2, Heads = 4, Embedding = 64, ContextLength = 32, VocabSize = 65 });
        var ids = randint(65, [4, 32], generator: new Generator(12));
        var targets = randint(65, [4, 32], generator: new Generator(13));
        Assert.Equal(MatrixPrecision.Float32, model.MatrixPrecision);
        var full = model.Loss(ids, targets).item<float>();
        model.MatrixPrecision = MatrixPrecision.BFloat16;
        Assert.All(model.Blocks, b => Assert.Equal(MatrixPrecision.BFloat16, b.Attention.Precision));
        var mixed = model.Loss(ids, targets);
        mixed.backward();
        Assert.NotEqual(full, mixed.item<float>());                  // the products did change format
        Assert.InRange(Math.Abs(full - mixed.item<float>()), 0, 5e-3); // and the loss did not move beyond their rounding
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.grad!.dtype));
    }

    [Fact]
    public void PrecisionNamesParseAndUnknownOnesAreRefused()
    {
        Assert.Equal(MatrixPrecision.BFloat16, MatrixPrecisions.Parse("bf16"));
        Assert.Equal(MatrixPrecision.Float32, MatrixPrecisions.Parse("fp32"));
        Assert.Contains("fp32 or bf16", Assert.Throws<ArgumentException>(() => MatrixPrecisions.Parse("fp16")).Message);
    }
}
