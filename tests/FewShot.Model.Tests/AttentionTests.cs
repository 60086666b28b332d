using FewShot.Model.Generation;
using FewShot.Model.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

public sealed class AttentionTests
{
    static readonly AttentionKind[] Alternating = [AttentionKind.Dense, AttentionKind.Local];

    [Fact]
    public void LocalAttentionWithWindowCoveringTheContextEqualsDense()
    {
        using var dense = TinyModels.Create(kinds: [AttentionKind.Dense, AttentionKind.Dense]);
        using var local = TinyModels.Create(kinds: [AttentionKind.Local, AttentionKind.Local], window: 64);
        using var _ = no_grad();
        var ids = TinyModels.RandomIds(2, 64);
        var difference = (dense.forward(ids) - local.forward(ids)).abs().max().item<float>();
        Assert.True(difference < 1e-5, $"largest difference {difference}");
    }

    [Fact]
    public void WithASmallWindowNoTokenSeesPastIt()
    {
        // One local layer: the output at position i depends on inputs (i - window, i] only.
        const int window = 4;
        using var model = TinyModels.Create(layers: 1, kinds: [AttentionKind.Local], window: window);
        using var _ = no_grad();
        var ids = TinyModels.RandomIds(1, 32);
        var changed = ids.clone();
        changed[0, 10] = (changed[0, 10] + 1) % 97;
        var a = model.forward(ids);
        var b = model.forward(changed);
        var differs = (a - b).abs().amax(-1)[0]; // (T)
        for (var i = 0; i < 32; i++)
        {
            var sees = i >= 10 && i < 10 + window;
            Assert.True(sees == (differs[i].item<float>() > 1e-6), $"position {i}: sees={sees}, difference {differs[i].item<float>()}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KvCacheDecodingEqualsFullRecomputation(bool alternating)
    {
        using var model = TinyModels.Create(layers: 2, kinds: alternating ? Alternating : null, window: 6);
        var prompt = TinyModels.RandomIds(1, 5).data<long>().Select(x => (int)x).ToArray();
        var cached = new TextGenerator(model, new ByteTokenizer()).Generate([prompt], new SamplingOptions { MaxNewTokens = 30, Temperature = 0, StopAtEndOfText = false })[0];

        // Full recomputation: run the whole sequence every step and take the argmax at the end.
        var sequence = prompt.Select(x => (long)x).ToList();
        using var _ = no_grad();
        for (var step = 0; step < 30; step++)
        {
            var logits = model.forward(tensor(sequence.ToArray()).unsqueeze(0));
            sequence.Add(logits[0, -1].argmax().item<long>());
        }
        Assert.Equal(sequence.Skip(prompt.Length).Select(x => (int)x), cached.Ids);
    }

    [Fact]
    public void KvCacheLogitsMatchFullForwardForRaggedBatch()
    {
        using var model = TinyModels.Create(layers: 2, kinds: Alternating, window: 5);
        using var _ = no_grad();
        var full = TinyModels.RandomIds(2, 20);
        var reference = model.forward(full); // (2, 20, V)

        // Row 0 prefilled with 12 tokens, row 1 with 7 (row by row), then both decode one token at a time.
        using var cache = model.NewCache(2, 20);
        using (var row0 = cache.Rows(0, 1)) model.Forward(full[..1, ..12], row0);
        using (var row1 = cache.Rows(1, 1)) model.Forward(full[1.., ..7], row1);
        var positions = new long[] { 12, 7 };
        for (var step = 0; step < 5; step++)
        {
            var next = stack([full[0, positions[0]], full[1, positions[1]]]).view(2, 1);
            var logits = model.Forward(next, cache, lastOnly: true); // (2, 1, V)
            for (var row = 0; row < 2; row++)
                Assert.True(logits[row, 0].allclose(reference[row, positions[row]], rtol: 0, atol: 1e-4), $"row {row} position {positions[row]}");
            positions[0]++;
            positions[1]++;
        }
    }

    [Theory]
    [InlineData(3, 40)]   // the ring of the local layers wraps many times
    [InlineData(16, 40)]  // a window longer than the prompt
    public void LocalLayersKeepOnlyTheirWindowAndStillMatchFullRecomputation(int window, int steps)
    {
        using var model = TinyModels.Create(layers: 2, kinds: Alternating, window: window);
        using var _ = no_grad();
        var full = TinyModels.RandomIds(1, 8 + steps);
        var reference = model.forward(full);
        using var cache = model.NewCache(1, 8 + steps);
        model.Forward(full[.., ..5], cache);          // prefill 5
        model.Forward(full[.., 5..8], cache);         // a continued prefill of 3 more
        for (var t = 8; t < 8 + steps; t++)
        {
            var logits = model.Forward(full[.., t..(t + 1)], cache, lastOnly: true);
            Assert.True(logits[0, 0].allclose(reference[0, t], rtol: 0, atol: 1e-4), $"position {t}");
        }
        // Dense layer: 48 slots; local layer: only its window.
        var slotsPerLayer = cache.Bytes / (2L * 4 * 4 * 8); // 2 tensors x fp32 x heads x head size
        Assert.Equal(48 + Math.Min(window, 48), slotsPerLayer);
    }

    [Theory]
    [InlineData("local", "heads")]
    [InlineData("strided", "heads")]
    [InlineData("strided", "layers")]
    [InlineData("fixed", "heads")]
    [InlineData("fixed", "layers")]
    public void EverySparsePatternEqualsDenseAttentionUnderItsMaskInOutputsAndGradients(string kind, string split)
    {
        // T not divisible by l or window, windows of 1, l longer than T.
        foreach (var (T, l) in new[] { (100, 16), (96, 16), (257, 64), (64, 1), (50, 64), (300, 7), (37, 5), (41, 20) })
        {
            foreach (var layerIndex in split == "layers" ? new[] { 0, 1 } : new[] { 0 })
            {
                var config = new GptConfig
                {
                    Layers = 2, Heads = 4, Embedding = 32, ContextLength = 512, Window = l, SparseStride = l, SparseSummary = Math.Min(3, l),
                    SparseSplit = split, AttentionTypes = [AttentionLayout.Parse(kind, "test"), AttentionLayout.Parse(kind, "test")],
                }.Validate();
                var pattern = LayerPattern.For(config, layerIndex);
                manual_seed(T + l);
                var q = randn(2, 4, T, 8, requires_grad: true);
                var k = randn(2, 4, T, 8, requires_grad: true);
                var v = randn(2, 4, T, 8, requires_grad: true);
                var weights = randn(2, 4, T, 8);

                var mask = pattern.Mask(arange(T).view(1, T), arange(T));
                var reference = Attention.Scaled(q, k, v, mask, 0, causal: false);
                var referenceGrads = torch.autograd.grad([(reference * weights).sum()], [q, k, v]);
                var output = Attention.Causal(q, k, v, pattern, 0);
                var grads = torch.autograd.grad([(output * weights).sum()], [q, k, v]);
                var where = $"{kind}/{split} layer {layerIndex} T={T} l={l}";
                Assert.True((output - reference).abs().max().item<float>() < 1e-5, $"{where}: outputs");
                for (var i = 0; i < 3; i++)
                    Assert.True((grads[i] - referenceGrads[i]).abs().max().item<float>() < 1e-5, $"{where}: gradient {i}");
            }
        }
    }

    [Fact]
    public void LocalAttentionWithDropoutHasTheGradientOfItsOwnForwardPass()
    {
        // Backward regenerates the dropout masks from the call's seed: the analytic gradient must match central
        // differences of the forward pass, each forward drawing the same masks (the global seed is reset before it).
        var window = 16;
        manual_seed(3);
        var q = randn(1, 2, 150, 8, dtype: ScalarType.Float64, requires_grad: true);
        var k = randn(1, 2, 150, 8, dtype: ScalarType.Float64, requires_grad: true);
        var v = randn(1, 2, 150, 8, dtype: ScalarType.Float64, requires_grad: true);
        var weights = randn(1, 2, 150, 8, dtype: ScalarType.Float64);
        Tensor Loss() { manual_seed(11); return (Attention.LocalBlockwise(q, k, v, window, dropout: 0.3) * weights).sum(); }

        var grads = torch.autograd.grad([Loss()], [q, k, v]);
        Assert.NotEqual(Loss().item<double>(), (Attention.LocalBlockwise(q, k, v, window, 0) * weights).sum().item<double>()); // dropout acts
        var direction = randn_like(q);
        using (no_grad())
        {
            const double h = 1e-6;
            foreach (var (input, grad) in new[] { (q, grads[0]), (k, grads[1]), (v, grads[2]) })
            {
                input.add_(direction, alpha: h);
                var up = Loss().item<double>();
                input.add_(direction, alpha: -2 * h);
                var down = Loss().item<double>();
                input.add_(direction, alpha: h);
                var numeric = (up - down) / (2 * h);
                var analytic = (grad * direction).sum().item<double>();
                Assert.True(Math.Abs(numeric - analytic) < 1e-5 * Math.Max(1, Math.Abs(analytic)), $"numeric {numeric} against analytic {analytic}");
            }
        }
    }

    [Theory]
    [InlineData("strided")]
    [InlineData("fixed")]
    public void SparseLayersDecodeWithTheCacheAsTheyComputeInFull(string kind)
    {
        manual_seed(5);
        using var model = new Gpt(new GptConfig
        {
            VocabSize = 97, ContextLength = 64, Layers = 2, Heads = 4, Embedding = 32, SparseStride = 4, SparseSummary = 2,
            AttentionTypes = [AttentionKind.Dense, AttentionLayout.Parse(kind, "test")],
        });
        model.eval();
        using var _ = no_grad();
        var full = TinyModels.RandomIds(1, 30);
        var reference = model.forward(full);
        using var cache = model.NewCache(1, 30);
        model.Forward(full[.., ..6], cache);
        model.Forward(full[.., 6..9], cache);
        for (var t = 9; t < 30; t++)
            Assert.True(model.Forward(full[.., t..(t + 1)], cache, lastOnly: true)[0, 0].allclose(reference[0, t], rtol: 0, atol: 1e-4), $"position {t}");
    }

    [Fact]
    public void BatchedGenerationOfDifferentPromptsEqualsOneByOne()
    {
        using var model = TinyModels.Create(layers: 2, kinds: Alternating, window: 6);
        var generator = new TextGenerator(model, new ByteTokenizer());
        var options = new SamplingOptions { MaxNewTokens = 12, Temperature = 0, StopAtEndOfText = false };
        int[][] prompts = [[1, 2, 3, 4, 5, 6, 7], [9, 8], [40, 41, 42, 43]];
        var together = generator.Generate(prompts, options);
        for (var i = 0; i < prompts.Length; i++)
            Assert.Equal(generator.Generate([prompts[i]], options)[0].Ids, together[i].Ids);
    }
}
