using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Evaluation.Reports;

namespace FewShot.Cli.Commands.Evaluation;

/// <summary>fewshot eval plot RESULTS... [--out DIR]: accuracy against K (Figure 1.2), against model size (Figure 1.3), and the few/zero gap against size.</summary>
public sealed class EvalPlotCommand : CliCommand
{
    readonly Argument<string[]> results = new("results") { Description = "results.json files (or folders holding one)", Arity = ArgumentArity.OneOrMore };
    readonly Option<string> output = new("--out") { Description = "Folder for the PNG files", DefaultValueFactory = _ => "." };
    readonly Option<string?> tasks = new("--tasks") { Description = "Comma-separated task names to draw (default: every task in the files)" };

    public EvalPlotCommand() : base("plot", "Draw the paper's in-context learning figures from results files")
    {
        Arguments.Add(results);
        Options.Add(output);
        Options.Add(tasks);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var runs = parse.GetValue(results)!
            .Select(p => Directory.Exists(p) ? Path.Combine(p, ResultsFile.ResultsName) : p)
            .Select(ResultsFile.Read).ToList();
        if (parse.GetValue(tasks) is { } list)
        {
            var names = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet();
            var measured = runs.SelectMany(r => r.Tasks).Select(t => t.Name).ToHashSet();
            if (names.FirstOrDefault(n => !measured.Contains(n)) is { } missing)
                throw new ArgumentException($"--tasks: no results file holds task '{missing}' (they hold {string.Join(", ", measured.Order())})");
            runs = [.. runs.Select(r => r with { Tasks = [.. r.Tasks.Where(t => names.Contains(t.Name))] })];
        }
        var folder = parse.GetValue(output)!;
        Directory.CreateDirectory(folder);
        var shots = ResultPlots.AccuracyAgainstShots(runs, Path.Combine(folder, "accuracy-vs-shots.png"));
        var size = ResultPlots.AccuracyAgainstSize(runs, Path.Combine(folder, "accuracy-vs-size.png"));
        var gap = ResultPlots.GapAgainstSize(runs, Path.Combine(folder, "gap-vs-size.png"));
        if (context.Json) context.WriteJson(new JsonObject { ["accuracy_vs_shots"] = shots, ["accuracy_vs_size"] = size, ["gap_vs_size"] = gap });
        else context.Info($"wrote {shots}, {size} and {gap}");
        return Task.FromResult(ExitCodes.Success);
    }
}
