using FewShot.Model.Generation;
using FewShot.Model.Tokenization;
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

        // Row 0 prefilled with 12 tokens, row 1 with 7 (right-padded), then both decode one token at a time.
        using var cache = model.NewCache(2, 20);
        var prefill = full[.., ..12].clone();
        model.Forward(prefill, cache);
        cache.SetLength(0, 12);
        cache.SetLength(1, 7);
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
