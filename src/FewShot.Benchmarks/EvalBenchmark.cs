using System.Diagnostics;
using FewShot.Evaluation.Scoring;
using FewShot.Model;
using FewShot.Model.Tokenization;

namespace FewShot.Benchmarks;

/// <summary>
/// Multiple-choice scoring speed: the naive loop (one full forward pass of context + choice per choice) against one
/// pass over the shared context with the choices read from a copied KV cache. Random model, byte tokenizer, a long
/// few-shot-like context and short choices: the shape of a real 4-choice few-shot question.
/// </summary>
public static class EvalBenchmark
{
    public sealed record Settings
    {
        public int Layers { get; init; } = 2;
        public int Heads { get; init; } = 6;
        public int Embedding { get; init; } = 384;
        public int ContextLength { get; init; } = 512;
        public int ContextTokens { get; init; } = 480;
        public int Choices { get; init; } = 4;
        public int ChoiceTokens { get; init; } = 3;
        public int Questions { get; init; } = 8;
        public int Seed { get; init; } = 7;
        /// <summary>libtorch intra-op threads during the benchmark (restored afterwards).</summary>
        public int Threads { get; init; } = 1;
    }

    public sealed record Result(Settings Settings, long Parameters, int Questions, double NaiveSeconds, double SharedSeconds,
        double NaiveQuestionsPerSecond, double SharedQuestionsPerSecond, double Speedup, double MaxAbsDifference);

    // Wall-clock and process CPU seconds of one call. With one intra-op thread, CPU time is what the work costs even
    // when other processes crowd the machine (wall time then mostly measures them).
    static (double Wall, double Cpu) Measure(Action work)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        work();
        var wall = clock.Elapsed.TotalSeconds;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu).TotalSeconds);
    }


    /// <summary>Speed-up: the median over questions of naive / shared CPU time, on <see cref="Settings.Threads"/> intra-op threads.</summary>
    public static Result Run(Settings? settings = null, Action<string>? log = null)
    {
        settings ??= new Settings();
        var threads = TorchSharp.torch.get_num_threads();
        TorchSharp.torch.set_num_threads(settings.Threads);
        try { return Measure(settings, log); }
        finally { TorchSharp.torch.set_num_threads(threads); }
    }

    static Result Measure(Settings settings, Action<string>? log)
    {
        TorchSharp.torch.manual_seed(settings.Seed);
        using var model = new Gpt(new GptConfig
        {
            VocabSize = 257, ContextLength = settings.ContextLength, Layers = settings.Layers, Heads = settings.Heads, Embedding = settings.Embedding,
        });
        var lm = new GptScorer(model, new ByteTokenizer());
        var random = new Random(settings.Seed);
        var questions = Enumerable.Range(0, settings.Questions + 1).Select(_ => (
            Context: Enumerable.Range(0, settings.ContextTokens).Select(_ => random.Next(256)).ToArray(),
            Choices: Enumerable.Range(0, settings.Choices).Select(_ => Enumerable.Range(0, settings.ChoiceTokens).Select(_ => random.Next(256)).ToArray()).ToArray()))
            .ToArray();

        // Warm-up (JIT, allocator) on the extra question, then time each method over the rest.
        lm.ScoreChoicesSeparately(questions[0].Context, questions[0].Choices);
        lm.ScoreChoiceIds(questions[0].Context, questions[0].Choices);
        var timed = questions[1..];

        // Interleaved, question by question, so that a busy machine slows both methods alike.
        var naive = new LogLikelihood[timed.Length][];
        var shared = new LogLikelihood[timed.Length][];
        double naiveSeconds = 0, sharedSeconds = 0;
        var ratios = new double[timed.Length];
        for (var q = 0; q < timed.Length; q++)
        {
            var (naiveTime, naiveCpu) = Measure(() => naive[q] = lm.ScoreChoicesSeparately(timed[q].Context, timed[q].Choices));
            var (sharedTime, sharedCpu) = Measure(() => shared[q] = lm.ScoreChoiceIds(timed[q].Context, timed[q].Choices));
            naiveSeconds += naiveTime;
            sharedSeconds += sharedTime;
            ratios[q] = naiveCpu / sharedCpu;
        }

        var difference = naive.Zip(shared).SelectMany(p => p.First.Zip(p.Second, (a, b) => Math.Abs(a.LogProb - b.LogProb))).Max();
        var result = new Result(settings, lm.Description.Parameters, timed.Length, naiveSeconds, sharedSeconds,
            timed.Length / naiveSeconds, timed.Length / sharedSeconds, Statistics.Median(ratios), difference);
        log?.Invoke($"{timed.Length} questions x {settings.Choices} choices, context {settings.ContextTokens} tokens: naive {result.NaiveQuestionsPerSecond:F1}/s, " +
                    $"shared context {result.SharedQuestionsPerSecond:F1}/s, speed-up {result.Speedup:F2}x, max |diff| {difference:E2}");
        return result;
    }
}
