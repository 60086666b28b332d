using System.Text.Json.Nodes;
using FewShot.Training.Metrics;

namespace FewShot.Training.Runs;

/// <summary>
/// The layout of a run folder: recipe.json (the resolved recipe), run.json (data source, init model, status),
/// tokenizer.json, metrics.jsonl, checkpoints/, plots/*.png and model/ (the final model folder).
/// </summary>
public sealed record RunFolder(string Path)
{
    public string Recipe => System.IO.Path.Combine(Path, "recipe.json");
    public string RunInfo => System.IO.Path.Combine(Path, "run.json");
    public string Metrics => System.IO.Path.Combine(Path, "metrics.jsonl");
    public string Checkpoints => System.IO.Path.Combine(Path, "checkpoints");
    public string Plots => System.IO.Path.Combine(Path, "plots");
    public string Model => System.IO.Path.Combine(Path, "model");

    public bool Exists => File.Exists(Recipe);

    /// <summary>A new folder under <paramref name="root"/> named after the time: runs/2026-11-28-153012.</summary>
    public static RunFolder NewUnder(string root)
    {
        var stem = System.IO.Path.Combine(root, DateTime.Now.ToString("yyyy-MM-dd-HHmmss"));
        var path = stem;
        for (var i = 2; Directory.Exists(path); i++) path = $"{stem}-{i}";
        return new RunFolder(path);
    }

    public JsonObject ReadInfo() =>
        File.Exists(RunInfo) ? JsonNode.Parse(File.ReadAllText(RunInfo)) as JsonObject ?? [] : [];

    /// <summary>One row of `fewshot runs`.</summary>
    public sealed record Summary(string Path, string Status, long Steps, long Tokens, double? BestValidationLoss, double? LastTrainLoss, string? Source);

    public Summary Summarize()
    {
        var info = ReadInfo();
        var metrics = MetricsLog.Read(Metrics);
        var best = metrics.Where(m => m["val_loss"] is not null).Select(m => m["val_loss"]!.GetValue<double>()).DefaultIfEmpty(double.NaN).Min();
        var lastTrain = metrics.LastOrDefault(m => (string?)m["type"] == "train");
        var last = metrics.LastOrDefault();
        return new Summary(Path, (string?)info["status"] ?? "unknown", last?["step"]?.GetValue<long>() ?? 0, last?["tokens"]?.GetValue<long>() ?? 0,
            double.IsNaN(best) ? null : best, lastTrain?["loss"]?.GetValue<double>(), (string?)info["source"]);
    }

    /// <summary>Every run folder directly under <paramref name="root"/>, oldest first.</summary>
    public static IReadOnlyList<RunFolder> List(string root) =>
        Directory.Exists(root)
            ? Directory.EnumerateDirectories(root).Select(d => new RunFolder(d)).Where(r => r.Exists).OrderBy(r => r.Path, StringComparer.Ordinal).ToList()
            : [];
}
