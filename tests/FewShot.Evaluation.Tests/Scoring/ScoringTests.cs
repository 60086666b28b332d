using FewShot.Benchmarks;
using FewShot.Evaluation.Scoring;
using FewShot.Model.Generation;
using FewShot.Model.Storage;

namespace FewShot.Evaluation.Tests.Scoring;

public class ScoringTests
{
    [Fact]
    public void SharedContextChoiceScoresEqualSeparatePassesOnTheGpt2Fixture()
    {
        using var loaded = HuggingFaceGpt2.Import(TestSupport.Fixture("gpt2-tiny"));
        var lm = new GptScorer(loaded.Model, loaded.Tokenizer);
        var random = new Random(3);
        for (var q = 0; q < 5; q++)
        {
            var context = Enumerable.Range(0, 20 + q * 7).Select(_ => random.Next(101)).ToArray();
            var choices = Enumerable.Range(0, 4).Select(c => Enumerable.Range(0, 1 + (c + q) % 4).Select(_ => random.Next(101)).ToArray()).ToArray();
            var shared = lm.ScoreChoiceIds(context, choices);
            var separate = lm.ScoreChoicesSeparately(context, choices);
            for (var c = 0; c < 4; c++)
            {
                Assert.Equal(separate[c].LogProb, shared[c].LogProb, 1e-5);
                Assert.Equal(separate[c].IsGreedy, shared[c].IsGreedy);
                Assert.Equal(choices[c].Length, shared[c].Tokens);
                Assert.True(shared[c].LogProb < 0);
            }
        }
    }

    [Fact]
    public void TheBenchmarksSharedContextScoringAgreesWithSeparatePasses()
    {
        // The speed-up itself is a speed goal, measured by `fewshot bench eval`, not asserted in a timed test.
        var result = EvalBenchmark.Run(new EvalBenchmark.Settings { Questions = 5 });
        Assert.True(result.MaxAbsDifference < 1e-5, $"max difference {result.MaxAbsDifference}");
    }

    [Fact]
    public void BatchedScoringEqualsOneRequestAtATimeInAnyOrder()
    {
        var lm = TestSupport.TinyModel();
        var requests = new (string, string)[] { ("Q: What is 1 plus 2? A:", " 3"), ("abc", "defgh"), ("", " x"), ("Longer context here, several words", " yes") };
        var batched = lm.Score(requests);
        var fresh = TestSupport.TinyModel(); // same seed, same weights, empty cache
        for (var i = 0; i < requests.Length; i++)
            Assert.Equal(fresh.Score([requests[i]])[0].LogProb, batched[i].LogProb, 1e-5);
        Assert.Equal(batched, lm.Score(requests)); // from the cache
        Assert.True(lm.Cache.Hits >= requests.Length);
    }

    [Fact]
    public void GreedyFlagIsTrueExactlyForTheModelsOwnGreedyContinuation()
    {
        var lm = TestSupport.TinyModel();
        var context = lm.Tokenizer.Encode("The answer is");
        var greedy = new TextGenerator(lm.Model, lm.Tokenizer)
            .Generate([context], new SamplingOptions { Temperature = 0, MaxNewTokens = 5, StopAtEndOfText = false })[0].Ids;
        var own = lm.ScoreIds([(context, greedy)])[0];
        Assert.True(own.IsGreedy);
        Assert.Equal(greedy, own.Argmax);
        var other = (int[])greedy.Clone();
        other[^1] = (other[^1] + 1) % 256;
        var changed = lm.ScoreIds([(context, other)])[0];
        Assert.False(changed.IsGreedy);
        Assert.Equal(greedy, changed.Argmax); // the argmax at each position, given the true tokens before it: unchanged
    }

    [Fact]
    public void BeamSearchWithWidthOneEqualsGreedyDecoding()
    {
        var lm = TestSupport.TinyModel(seed: 5);
        var generator = new TextGenerator(lm.Model, lm.Tokenizer);
        var prompts = new[] { "Q: What is 12 plus 30? A:", "hello", "x", "The quick brown fox" };
        foreach (var stop in new[] { Array.Empty<string>(), ["e"], ["\n", " "] })
            foreach (var prompt in prompts)
            {
                var greedy = generator.Generate([prompt], new SamplingOptions { Temperature = 0, MaxNewTokens = 12, Stop = stop })[0].Text;
                Assert.Equal(greedy, lm.GenerateBeam(prompt, stop, 12, width: 1, lengthPenalty: 0.6));
            }
        // Width 4 explores more: its answer scores at least as well under its own criterion, and is deterministic.
        Assert.Equal(lm.GenerateBeam("hello", [], 8, 4, 0.6), lm.GenerateBeam("hello", [], 8, 4, 0.6));
    }

    [Fact]
    public void RollingLogLikelihoodCoversEveryTokenAcrossContextWindows()
    {
        var lm = TestSupport.TinyModel(context: 16);
        var text = "A document longer than one sixteen-token window.";
        var (nll, tokens) = lm.ScoreRolling(text);
        Assert.Equal(text.Length, tokens); // bytes; the first is predicted from end-of-text
        Assert.InRange(nll / tokens, 4.0, 7.0); // a random model over 257 symbols: about ln 257 = 5.5 nats
    }

    [Fact]
    public void AnswerMetricsNormaliseCaseAndPunctuation()
    {
        Assert.Equal(1, AnswerMetrics.ExactMatch(" BitArray.", "bitarray"));
        Assert.Equal(0, AnswerMetrics.ExactMatch("BitArray list", "BitArray"));
        Assert.Equal(2 * 0.5 * 1 / 1.5, AnswerMetrics.TokenF1("BitArray list", "BitArray"), 1e-12);
        var e = Estimate.Of([1, 0, 1, 0]);
        Assert.Equal(0.5, e.Value);
        Assert.Equal(Math.Sqrt(1.0 / 3 / 4), e.StdErr, 1e-12);
    }
}
