using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Evaluation.Reports;

namespace FewShot.Cli.Commands.Evaluation;

/// <summary>fewshot eval plot RESULTS... [--out DIR]: accuracy against K (Figure 1.2) and against model size (Figure 1.3).</summary>
public sealed class EvalPlotCommand : CliCommand
{
    readonly Argument<string[]> results = new("results") { Description = "results.json files (or folders holding one)", Arity = ArgumentArity.OneOrMore };
    readonly Option<string> output = new("--out") { Description = "Folder for the PNG files", DefaultValueFactory = _ => "." };

    public EvalPlotCommand() : base("plot", "Draw the paper's in-context learning figures from results files")
    {
        Arguments.Add(results);
        Options.Add(output);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var runs = parse.GetValue(results)!
            .Select(p => Directory.Exists(p) ? Path.Combine(p, ResultsFile.ResultsName) : p)
            .Select(ResultsFile.Read).ToList();
        var folder = parse.GetValue(output)!;
        Directory.CreateDirectory(folder);
        var shots = ResultPlots.AccuracyAgainstShots(runs, Path.Combine(folder, "accuracy-vs-shots.png"));
        var size = ResultPlots.AccuracyAgainstSize(runs, Path.Combine(folder, "accuracy-vs-size.png"));
        if (context.Json) context.WriteJson(new JsonObject { ["accuracy_vs_shots"] = shots, ["accuracy_vs_size"] = size });
        else context.Info($"wrote {shots} and {size}");
        return Task.FromResult(ExitCodes.Success);
    }
}
