using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Training.Runs;
using Spectre.Console;

namespace FewShot.Cli.Commands.Training;

/// <summary>fewshot runs [--root runs]: every training run with its status, progress and best validation loss.</summary>
public sealed class RunsCommand : CliCommand
{
    readonly Option<string> root = new("--root") { Description = "Folder that holds the run folders", DefaultValueFactory = _ => "runs" };

    public RunsCommand() : base("runs", "List training runs with their best losses")
    {
        Options.Add(root);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var folder = parse.GetValue(root)!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no runs folder (train with `fewshot train` first, or give --root)");
        var runs = RunFolder.List(folder).Select(r => r.Summarize()).ToList();
        if (context.Json)
        {
            context.WriteJson(new JsonObject
            {
                ["runs"] = new JsonArray(runs.Select(r => (JsonNode)new JsonObject
                {
                    ["run_dir"] = r.Path, ["status"] = r.Status, ["steps"] = r.Steps, ["tokens"] = r.Tokens,
                    ["best_val_loss"] = r.BestValidationLoss, ["last_train_loss"] = r.LastTrainLoss, ["source"] = r.Source,
                }).ToArray()),
            });
            return Task.FromResult(ExitCodes.Success);
        }
        if (runs.Count == 0) { context.Info($"{folder}: no runs yet"); return Task.FromResult(ExitCodes.Success); }
        var table = new Table().AddColumns("run", "status", "steps", "tokens", "best val loss", "train loss", "data");
        foreach (var r in runs)
            table.AddRow(Markup.Escape(Path.GetFileName(r.Path)), r.Status, $"{r.Steps:N0}", Units.Count(r.Tokens),
                r.BestValidationLoss is { } b ? $"{b:F4}" : "-", r.LastTrainLoss is { } t ? $"{t:F4}" : "-", Markup.Escape(r.Source ?? "-"));
        context.Out.Write(table);
        return Task.FromResult(ExitCodes.Success);
    }
}
