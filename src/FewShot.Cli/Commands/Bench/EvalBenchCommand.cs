using System.CommandLine;
using System.Text.Json;
using FewShot.Cli.Infrastructure;
using FewShot.Benchmarks;
using Spectre.Console;

namespace FewShot.Cli.Commands.Bench;

/// <summary>fewshot bench eval: multiple-choice scoring from a shared context against one pass per choice.</summary>
public sealed class EvalBenchCommand : CliCommand
{
    readonly Option<int> questions = new("--questions") { Description = "Questions to time", DefaultValueFactory = _ => 8 };
    readonly Option<int> benchThreads = new("--bench-threads") { Description = "libtorch intra-op threads while timing", DefaultValueFactory = _ => 1 };

    public EvalBenchCommand() : base("eval", "Measure multiple-choice scoring: shared-context KV cache against one pass per choice")
    {
        Options.Add(questions);
        Options.Add(benchThreads);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var count = parse.GetValue(questions);
        if (count < 1) throw new ArgumentException("--questions must be at least 1");
        var result = EvalBenchmark.Run(new EvalBenchmark.Settings { Questions = count, Threads = parse.GetValue(benchThreads) }, context.Info);
        if (context.Json)
        {
            context.WriteJson(JsonSerializer.SerializeToNode(result, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })!);
            return Task.FromResult(ExitCodes.Success);
        }
        var table = new Table().AddColumns("method", "questions/s", "seconds");
        table.AddRow("one pass per choice", $"{result.NaiveQuestionsPerSecond:F2}", $"{result.NaiveSeconds:F2}");
        table.AddRow("shared context (KV cache)", $"{result.SharedQuestionsPerSecond:F2}", $"{result.SharedSeconds:F2}");
        context.Out.Write(table);
        context.Out.MarkupLine($"speed-up (median CPU-time ratio): [bold]{result.Speedup:F2}x[/]; max |log-likelihood difference| {result.MaxAbsDifference:E1}");
        return Task.FromResult(ExitCodes.Success);
    }
}
