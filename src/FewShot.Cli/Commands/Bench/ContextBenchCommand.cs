using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Data.Mixture;
using FewShot.Data.Shards;
using FewShot.Model;
using FewShot.Benchmarks;
using FewShot.Model.Storage;
using ScottPlot;
using Spectre.Console;

namespace FewShot.Cli.Commands.Bench;

/// <summary>
/// fewshot bench context --models A,B,C --data DIR: validation loss of several models on the same held-out windows,
/// overall and by position in the context (the dense / alternating / local trade-off of docs/attention.md).
/// </summary>
public sealed class ContextBenchCommand : CliCommand
{
    readonly Option<string> models = new("--models") { Description = "Model folders, comma-separated", Required = true };
    readonly Option<string> data = new("--data") { Description = "Prepared data folder whose held-out split is scored", Required = true };
    readonly Option<int> windows = new("--windows") { Description = "Held-out windows to score", DefaultValueFactory = _ => 64 };
    readonly Option<string> plot = new("--plot") { Description = "Where to write loss against position", DefaultValueFactory = _ => "bench-context.png" };
    readonly Option<int> threads = CommonOptions.Threads();

    public ContextBenchCommand() : base("context", "Compare models' validation loss by position in the context")
    {
        foreach (var o in new Option[] { models, data, windows, plot, threads }) Options.Add(o);
    }

    // A run's model folder is <run>/model: name it after the run.
    static string DisplayName(string folder)
    {
        var full = new DirectoryInfo(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar));
        return full.Name == "model" && full.Parent is { } run ? run.Name : full.Name;
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        CommonOptions.ResolveDevice("cpu", parse.GetValue(threads));
        var folders = parse.GetValue(models)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        using var shards = TokenShards.Open(parse.GetValue(data)!);
        var rows = new List<(string Name, string Layout, double Mean, double[] PerPosition)>();
        foreach (var folder in folders)
        {
            cancel.ThrowIfCancellationRequested();
            using var loaded = ModelFolder.Load(folder);
            var config = loaded.Model.Config;
            var held = MixtureSampler.ValidationBatches(shards, parse.GetValue(windows), 1, config.ContextLength);
            context.Info($"{folder}: scoring {held.Count} windows of {config.ContextLength} tokens");
            var (mean, perPosition) = PositionLoss.Compute(loaded.Model, held);
            var layout = config.AttentionTypes.Length == 0 ? "dense" : AttentionLayout.Describe(config.AttentionTypes);
            rows.Add((DisplayName(folder), layout, mean, perPosition));
        }

        var chart = new Plot();
        foreach (var row in rows)
        {
            // Averages over buckets of 16 positions keep the curves readable.
            var buckets = row.PerPosition.Chunk(16).Select(b => b.Average()).ToArray();
            var line = chart.Add.Scatter(buckets.Select((_, i) => i * 16.0 + 8).ToArray(), buckets);
            line.LegendText = $"{row.Name}: {row.Layout} (mean {row.Mean:F3})";
            line.MarkerSize = 0;
        }
        chart.Title("Validation loss by position in the context");
        chart.XLabel("position");
        chart.YLabel("cross-entropy (nats)");
        chart.ShowLegend(Alignment.UpperRight);
        chart.SavePng(parse.GetValue(plot)!, 900, 550);

        if (context.Json)
        {
            context.WriteJson(new JsonObject
            {
                ["models"] = new JsonArray(rows.Select(r => (JsonNode)new JsonObject
                {
                    ["model"] = r.Name, ["attention"] = r.Layout, ["val_loss"] = Math.Round(r.Mean, 5),
                    ["position_loss"] = new JsonArray(r.PerPosition.Select(x => (JsonNode)Math.Round(x, 4)).ToArray()),
                }).ToArray()),
                ["plot"] = parse.GetValue(plot),
            });
            return Task.FromResult(ExitCodes.Success);
        }
        var table = new Table().AddColumns("model", "attention", "val loss", "first quarter", "last quarter");
        foreach (var r in rows)
        {
            var q = r.PerPosition.Length / 4;
            table.AddRow(Markup.Escape(r.Name), Markup.Escape(r.Layout), $"{r.Mean:F4}", $"{r.PerPosition[..q].Average():F4}", $"{r.PerPosition[^q..].Average():F4}");
        }
        context.Out.Write(table);
        return Task.FromResult(ExitCodes.Success);
    }
}
