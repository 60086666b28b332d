using System.Diagnostics;
using System.Text.Json.Nodes;
using FewShot.Model;
using FewShot.Training.Batches;
using FewShot.Training.Recipes;
using FewShot.Training.Loop;
using static TorchSharp.torch;

namespace FewShot.Benchmarks;

/// <summary>What <see cref="TrainBenchmark.Run"/> measured.</summary>
/// <param name="ModelFlopsPerSecond">Tokens/s x (6N + 12 L d T), timed after the warmup steps.</param>
/// <param name="MatmulFlopsPerSecond">A 2048^3 fp32 matmul in the same process, same threads.</param>
/// <param name="RssAfterWarmup">Resident memory after the warmup steps, in bytes.</param>
/// <param name="RssByStep">Resident memory after a full collection at measured step 0 (after warmup), every
/// <see cref="TrainBenchmark.RssInterval"/> measured steps and the last one, in bytes: flat when nothing piles up.</param>
public sealed record TrainBenchmarkResult(
    int Steps, int Threads, double TokensPerSecond, double ModelFlopsPerSecond, double MatmulFlopsPerSecond,
    long RssAfterWarmup, long LastRss, long PeakRss, string Breakdown, IReadOnlyList<(int Step, long Bytes)> RssByStep)
{
    public double FlopsRatio => ModelFlopsPerSecond / MatmulFlopsPerSecond;

    public JsonObject ToJson() => new()
    {
        ["steps"] = Steps, ["threads"] = Threads, ["tokens_per_second"] = Math.Round(TokensPerSecond, 1),
        ["model_flops_per_second"] = Math.Round(ModelFlopsPerSecond), ["matmul_flops_per_second"] = Math.Round(MatmulFlopsPerSecond),
        ["flops_ratio"] = Math.Round(FlopsRatio, 4), ["rss_after_warmup_bytes"] = RssAfterWarmup, ["last_rss_bytes"] = LastRss,
        ["peak_rss_bytes"] = PeakRss, ["breakdown"] = Breakdown,
        ["rss_by_step_bytes"] = new JsonObject(RssByStep.Select(r => KeyValuePair.Create(r.Step.ToString(System.Globalization.CultureInfo.InvariantCulture), (JsonNode?)r.Bytes))),
    };
}

/// <summary>
/// Training throughput through the real <see cref="Trainer"/> (AdamW, clipping, schedule, dispose scopes) on
/// synthetic tokens, for `fewshot bench train`: tokens/s, model FLOP/s against the machine's matmul rate, and memory.
/// </summary>
public static class TrainBenchmark
{
    /// <summary>Measured steps between the resident-memory readings of <see cref="TrainBenchmarkResult.RssByStep"/>.</summary>
    public const int RssInterval = 500;

    public static TrainBenchmarkResult Run(GptConfig config, int batch, int steps, int threads = 0, int warmupSteps = 5, Action<int>? onStep = null,
        string precision = "fp32")
    {
        var recipe = new TrainingRecipe
        {
            Layers = config.Layers, Heads = config.Heads, Embedding = config.Embedding, ContextLength = config.ContextLength,
            MicroBatch = batch, Iterations = steps + warmupSteps, LearningRate = 6e-4, EvalInterval = int.MaxValue, EvalBatches = 1,
            SampleTokens = 0, Threads = threads, Precision = precision,
        };
        recipe.Validate();
        ThreadSetting.Apply(recipe);
        var matmul = ModelFlops.MatmulRate(2048);

        manual_seed(recipe.Seed);
        using var model = new Gpt(config with { Dropout = 0 });
        using var trainer = new Trainer(model, new RandomTokens(config.VocabSize, recipe.Seed), recipe);
        long rssAfterWarmup = 0, lastRss = 0;
        var rssByStep = new List<(int, long)>();
        long startTokens = 0;
        var watch = new Stopwatch();
        trainer.StepCompleted += r =>
        {
            onStep?.Invoke((int)r.Step);
            if (r.Step == warmupSteps)
            {
                rssAfterWarmup = Rss();
                rssByStep.Add((0, rssAfterWarmup));
                startTokens = r.Tokens;
                watch.Restart();
            }
            if (r.Step == r.TotalSteps) { watch.Stop(); lastRss = Rss(); rssByStep.Add((steps, lastRss)); }
            else if (r.Step > warmupSteps && (r.Step - warmupSteps) % RssInterval == 0) rssByStep.Add(((int)r.Step - warmupSteps, Rss()));
        };
        var result = trainer.Run();
        var tokensPerSecond = (result.Tokens - startTokens) / watch.Elapsed.TotalSeconds;
        return new TrainBenchmarkResult(steps, get_num_threads(), tokensPerSecond, tokensPerSecond * ModelFlops.PerToken(config), matmul,
            rssAfterWarmup, lastRss, Process.GetCurrentProcess().PeakWorkingSet64, trainer.Timings.ToString(), rssByStep);
    }

    // Resident memory after a full collection, so that only what the process retains counts (as in the decode benchmark).
    static long Rss() => FewShot.Benchmarks.ReferenceRates.ResidentBytes();

    /// <summary>Uniformly random tokens: the benchmark measures the step, not the data.</summary>
    sealed class RandomTokens(int vocab, long seed) : WindowBatchSource
    {
        readonly SplitMix64 random = new((ulong)seed);
        public override string Description => "random tokens";
        protected override void NextTrainingWindow(Span<int> window) { for (var i = 0; i < window.Length; i++) window[i] = (int)random.Below(vocab); }
        protected override void ValidationWindow(long index, Span<int> window)
        {
            var r = new SplitMix64((ulong)index);
            for (var i = 0; i < window.Length; i++) window[i] = (int)r.Below(vocab);
        }
        public override JsonNode SaveState() => new JsonObject { ["rng"] = random.State.ToString() };
        public override void RestoreState(JsonNode state) => random.State = ulong.Parse(state["rng"]!.GetValue<string>());
    }
}
