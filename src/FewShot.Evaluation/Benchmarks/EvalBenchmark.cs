using System.Diagnostics;
using FewShot.Evaluation.Scoring;
using FewShot.Model;
using FewShot.Model.Tokenization;

namespace FewShot.Evaluation.Benchmarks;

/// <summary>
/// Multiple-choice scoring speed: the naive loop (one full forward pass of context + choice per choice) against one
/// pass over the shared context with the choices read from a copied KV cache. Random model, byte tokenizer, a long
/// few-shot-like context and short choices: the shape of a real 4-choice few-shot question.
/// </summary>
public static class EvalBenchmark
{
    public sealed record Settings
    {
        public int Layers { get; init; } = 4;
        public int Heads { get; init; } = 4;
        public int Embedding { get; init; } = 256;
        public int ContextLength { get; init; } = 512;
        public int ContextTokens { get; init; } = 440;
        public int Choices { get; init; } = 4;
        public int ChoiceTokens { get; init; } = 6;
        public int Questions { get; init; } = 8;
        public int Seed { get; init; } = 7;
    }

    public sealed record Result(Settings Settings, long Parameters, int Questions, double NaiveSeconds, double SharedSeconds,
        double NaiveQuestionsPerSecond, double SharedQuestionsPerSecond, double Speedup, double MaxAbsDifference);

    public static Result Run(Settings? settings = null, Action<string>? log = null)
    {
        settings ??= new Settings();
        TorchSharp.torch.manual_seed(settings.Seed);
        using var model = new Gpt(new GptConfig
        {
            VocabSize = 257, ContextLength = settings.ContextLength, Layers = settings.Layers, Heads = settings.Heads, Embedding = settings.Embedding,
        });
        var lm = new LanguageModel(model, new ByteTokenizer(), hash: "bench");
        var random = new Random(settings.Seed);
        var questions = Enumerable.Range(0, settings.Questions + 1).Select(_ => (
            Context: Enumerable.Range(0, settings.ContextTokens).Select(_ => random.Next(256)).ToArray(),
            Choices: Enumerable.Range(0, settings.Choices).Select(_ => Enumerable.Range(0, settings.ChoiceTokens).Select(_ => random.Next(256)).ToArray()).ToArray()))
            .ToArray();

        // Warm-up (JIT, allocator) on the extra question, then time each method over the rest.
        lm.ScoreChoicesSeparately(questions[0].Context, questions[0].Choices);
        lm.ScoreChoiceIds(questions[0].Context, questions[0].Choices);
        var timed = questions[1..];

        var clock = Stopwatch.StartNew();
        var naive = timed.Select(q => lm.ScoreChoicesSeparately(q.Context, q.Choices)).ToArray();
        var naiveSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var shared = timed.Select(q => lm.ScoreChoiceIds(q.Context, q.Choices)).ToArray();
        var sharedSeconds = clock.Elapsed.TotalSeconds;

        var difference = naive.Zip(shared).SelectMany(p => p.First.Zip(p.Second, (a, b) => Math.Abs(a.LogProb - b.LogProb))).Max();
        var result = new Result(settings, lm.Parameters, timed.Length, naiveSeconds, sharedSeconds,
            timed.Length / naiveSeconds, timed.Length / sharedSeconds, naiveSeconds / sharedSeconds, difference);
        log?.Invoke($"{timed.Length} questions x {settings.Choices} choices, context {settings.ContextTokens} tokens: naive {result.NaiveQuestionsPerSecond:F1}/s, " +
                    $"shared context {result.SharedQuestionsPerSecond:F1}/s, speed-up {result.Speedup:F2}x, max |diff| {difference:E2}");
        return result;
    }
}
