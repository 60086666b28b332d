using FewShot.Model.Generation;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

public sealed class GenerationTests
{
    [Fact]
    public void TopKOneIsGreedy()
    {
        using var model = TinyModels.Create();
        var generator = new TextGenerator(model, new ByteTokenizer());
        var greedy = generator.Generate([[1, 2, 3]], new SamplingOptions { MaxNewTokens = 10, Temperature = 0, StopAtEndOfText = false })[0];
        var topOne = generator.Generate([[1, 2, 3]], new SamplingOptions { MaxNewTokens = 10, Temperature = 1.5, TopK = 1, Seed = 3, StopAtEndOfText = false })[0];
        Assert.Equal(greedy.Ids, topOne.Ids);
    }

    [Fact]
    public void SameSeedSameSampleDifferentSeedDifferentSample()
    {
        using var model = TinyModels.Create();
        var generator = new TextGenerator(model, new ByteTokenizer());
        SamplingOptions With(long seed) => new() { MaxNewTokens = 20, Temperature = 1.0, Seed = seed, StopAtEndOfText = false };
        Assert.Equal(generator.Generate([[5]], With(1))[0].Ids, generator.Generate([[5]], With(1))[0].Ids);
        Assert.NotEqual(generator.Generate([[5]], With(1))[0].Ids, generator.Generate([[5]], With(2))[0].Ids);
    }

    [Fact]
    public void GreedyIdsReadInPlaceEqualArgmax()
    {
        using var g = new Generator(7);
        var greedy = new SamplingOptions { Temperature = 0 };
        // Random rows; a row whose largest value appears twice (argmax takes the first); a row with a NaN (argmax takes it).
        var random = randn([5, 300], generator: g);
        var ties = tensor(new float[] { 1, 3, -2, 3, 0, 3 }).reshape(1, 6);
        var nan = tensor(new float[] { 1, 9, float.NaN, 12, float.NaN }).reshape(1, 5);
        foreach (var logits in new[] { random, ties, nan })
            Assert.Equal(logits.argmax(-1).data<long>().ToArray(), TokenSampler.SampleIds(logits, greedy, null));
        // Not contiguous (a transposed view) or not float: the tensor path, same ids.
        var transposed = randn([300, 4], generator: g).t();
        Assert.Equal(transposed.argmax(-1).data<long>().ToArray(), TokenSampler.SampleIds(transposed, greedy, null));
        var doubles = random.to(ScalarType.Float64);
        Assert.Equal(random.argmax(-1).data<long>().ToArray(), TokenSampler.SampleIds(doubles, greedy, null));
    }

    [Fact]
    public void TopPKeepsOnlyTheNucleus()
    {
        var logits = tensor(new float[] { 5, 4, 0, -10 }).log_softmax(0).unsqueeze(0); // probabilities ~0.73, 0.27, 0.005, 0
        using var g = new Generator(1);
        var seen = new HashSet<long>();
        for (var i = 0; i < 200; i++) seen.Add(TokenSampler.Sample(logits, new SamplingOptions { TopP = 0.9 }, g)[0].item<long>());
        Assert.Equal([0L, 1L], seen.Order());
    }

    [Fact]
    public void StopSequenceCutsTheTextAndHoldsBackPartialMatches()
    {
        var filter = new StopSequenceFilter(["\nUser:"]);
        Assert.Equal("Hello", filter.Update("Hello"));
        Assert.Equal("", filter.Update("Hello\nUs")); // could still become the stop sequence
        Assert.Equal(" there", filter.Update("Hello there")[..0] + " there"); // not a prefix path: exercised below
        var second = new StopSequenceFilter(["\nUser:"]);
        Assert.Equal("Hi", second.Update("Hi\nU"));
        Assert.Equal("", second.Update("Hi\nUser: next"));
        Assert.True(second.Stopped);
        Assert.Equal("Hi", second.FinalText);
    }

    [Fact]
    public void StreamingYieldsTheSameTextAsGenerate()
    {
        using var model = TinyModels.Create(vocab: 257);
        var generator = new TextGenerator(model, new ByteTokenizer());
        var options = new SamplingOptions { MaxNewTokens = 25, Temperature = 0, StopAtEndOfText = false };
        var whole = generator.Generate([[72, 105]], options)[0];
        var streamed = string.Concat(generator.StreamAsync([72, 105], options).ToBlockingEnumerable().Select(c => c.Text));
        Assert.Equal(whole.Text, streamed);
    }

    [Fact]
    public void CancellationEndsGeneration()
    {
        using var model = TinyModels.Create();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var result = new TextGenerator(model, new ByteTokenizer()).Generate([[1]], new SamplingOptions { MaxNewTokens = 50, StopAtEndOfText = false }, cancel.Token)[0];
        Assert.Equal(FinishReason.Cancelled, result.FinishReason);
        Assert.Empty(result.Ids);
    }

    [Fact]
    public void PromptTooLongIsAnErrorUnlessTruncationIsAsked()
    {
        using var model = TinyModels.Create(context: 16);
        var generator = new TextGenerator(model, new ByteTokenizer());
        var prompt = Enumerable.Range(1, 20).ToArray();
        var e = Assert.Throws<ArgumentException>(() => generator.Generate([prompt], new SamplingOptions { MaxNewTokens = 4 }));
        Assert.Contains("20 tokens", e.Message);
        var truncated = generator.Generate([prompt], new SamplingOptions { MaxNewTokens = 4, TruncateLeft = true, StopAtEndOfText = false })[0];
        Assert.Equal(12, truncated.PromptIds.Length);
        Assert.Equal(prompt[^12..], truncated.PromptIds);
        Assert.Equal(4, truncated.Ids.Length);
    }

    [Fact]
    public void TokenIdsOutOfRangeAreNamed()
    {
        using var model = TinyModels.Create(vocab: 97);
        var e = Assert.Throws<ArgumentException>(() => new TextGenerator(model, new ByteTokenizer()).Generate([[1, 200]], new SamplingOptions()));
        Assert.Contains("200", e.Message);
        Assert.Contains("position 1", e.Message);
    }
}
