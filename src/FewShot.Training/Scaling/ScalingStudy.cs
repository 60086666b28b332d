using System.Text.Json.Nodes;
using FewShot.Model;
using FewShot.Model.Tokenization;
using FewShot.Training.Batches;
using FewShot.Training.Recipes;
using FewShot.Training.Loop;
using static TorchSharp.torch;

namespace FewShot.Training.Scaling;

/// <summary>One model of the family: its shape.</summary>
public sealed record ScalingSize(int Layers, int Embedding, int Heads)
{
    public override string ToString() => $"{Layers}x{Embedding}";
}

/// <summary>The settings of a scaling study. Defaults finish in about 10 minutes on two idle CPU cores (docs/training.md).</summary>
public sealed record ScalingOptions
{
    public IReadOnlyList<ScalingSize> Sizes { get; init; } =
        [new(1, 32, 2), new(2, 48, 3), new(2, 64, 4), new(3, 96, 4), new(4, 128, 4), new(6, 192, 6)];
    public int Context { get; init; } = 64;
    public int MicroBatch { get; init; } = 16;
    /// <summary>Optimizer steps per model; every model sees the same tokens, so compute grows with size.</summary>
    public int Steps { get; init; } = 1500;
    /// <summary>Validation points per model (evenly spaced), each one a (compute, loss) point.</summary>
    public int Evaluations { get; init; } = 10;
    public int EvalBatches { get; init; } = 20;
    public double LearningRate { get; init; } = 2e-3;
    public long Seed { get; init; } = 1337;
}

/// <summary>One validation point of one model: compute C = 6 N D (N without embeddings) in PF-days, and the loss.</summary>
public sealed record ScalingPoint(ScalingSize Size, long NonEmbeddingParameters, long Step, long Tokens, double PetaflopDays, double Loss);

public sealed record ScalingResult(IReadOnlyList<ScalingPoint> Points, IReadOnlyList<ScalingPoint> Frontier, PowerLawFit Fit)
{
    public JsonObject ToJson() => new()
    {
        ["fit"] = new JsonObject { ["a"] = Fit.A, ["b"] = Fit.B, ["r2"] = Fit.RSquared, ["points"] = Fit.Points },
        ["paper_fit"] = new JsonObject { ["a"] = 2.57, ["b"] = 0.048 },
        ["points"] = new JsonArray(Points.Select(Json).ToArray()),
        ["frontier"] = new JsonArray(Frontier.Select(Json).ToArray()),
    };

    static JsonNode Json(ScalingPoint p) => new JsonObject
    {
        ["size"] = p.Size.ToString(), ["non_embedding_parameters"] = p.NonEmbeddingParameters, ["step"] = p.Step, ["tokens"] = p.Tokens,
        ["pf_days"] = p.PetaflopDays, ["val_loss"] = p.Loss,
    };
}

/// <summary>
/// GPT-3's Figure 3.1 at small scale: a family of model sizes trained on the same data, validation loss against
/// training compute, the compute-efficient frontier (the lowest loss reached at or below each compute), and a fit
/// L(C) = a C^-b on the frontier. Compute counts non-embedding parameters, as the paper (after Kaplan et al.) does.
/// </summary>
public static class ScalingStudy
{
    public const double FlopsPerPetaflopDay = 1e15 * 86400;

    public static ScalingResult Run(int[] tokens, ITokenizer tokenizer, ScalingOptions options, Action<ScalingSize, StepReport>? onStep = null,
        Action<ScalingPoint>? onPoint = null, CancellationToken cancel = default)
    {
        var points = new List<ScalingPoint>();
        foreach (var size in options.Sizes)
        {
            cancel.ThrowIfCancellationRequested();
            var recipe = new TrainingRecipe
            {
                Layers = size.Layers, Embedding = size.Embedding, Heads = size.Heads, ContextLength = options.Context,
                MicroBatch = options.MicroBatch, Iterations = options.Steps, LearningRate = options.LearningRate,
                WarmupIterations = Math.Min(100, options.Steps / 10), Beta2 = 0.99, Dropout = 0, Seed = options.Seed,
                EvalInterval = Math.Max(1, options.Steps / options.Evaluations), EvalBatches = options.EvalBatches, SampleTokens = 0,
            }.Validate();
            ThreadSetting.Apply(recipe);
            var data = new TextBatchSource(tokens, options.Seed);
            data.CheckContext(options.Context);
            manual_seed(options.Seed);
            var config = recipe.ModelConfig(tokenizer.VocabSize);
            var n = ModelFlops.NonEmbeddingParameters(config);
            using var model = new Gpt(config);
            using var trainer = new Trainer(model, data, recipe);
            trainer.StepCompleted += r => onStep?.Invoke(size, r);
            trainer.Evaluated += e =>
            {
                var point = new ScalingPoint(size, n, e.Step, e.Tokens, 6.0 * n * e.Tokens / FlopsPerPetaflopDay, e.ValidationLoss);
                points.Add(point);
                onPoint?.Invoke(point);
            };
            trainer.Run(cancel);
        }
        var frontier = Frontier(points);
        return new ScalingResult(points, frontier, PowerLawFit.Fit(frontier.Select(p => (p.PetaflopDays, p.Loss)).ToList()));
    }

    /// <summary>The points that no point of lower or equal compute beats: the lower envelope of all learning curves.</summary>
    public static IReadOnlyList<ScalingPoint> Frontier(IEnumerable<ScalingPoint> points)
    {
        var frontier = new List<ScalingPoint>();
        var best = double.PositiveInfinity;
        foreach (var p in points.OrderBy(p => p.PetaflopDays).ThenBy(p => p.Loss))
        {
            if (p.Loss >= best) continue;
            best = p.Loss;
            frontier.Add(p);
        }
        return frontier;
    }
}
