using System.CommandLine;
using System.Text.Json;
using FewShot.Cli.Infrastructure;
using FewShot.Benchmarks;
using Spectre.Console;

namespace FewShot.Cli.Commands.Bench;

/// <summary>
/// fewshot bench eval: multiple-choice scoring from a shared context against one pass per choice; with --api, scoring
/// through a local server's completions API against in-process scoring.
/// </summary>
public sealed class EvalBenchCommand : CliCommand
{
    readonly Option<int> questions = new("--questions") { Description = "Questions to time", DefaultValueFactory = _ => 8 };
    readonly Option<int> benchThreads = new("--bench-threads") { Description = "libtorch intra-op threads while timing", DefaultValueFactory = _ => 1 };
    readonly Option<bool> api = new("--api") { Description = "Score through a local server's API (echo + logprobs + max_tokens 0) against in-process scoring" };

    public EvalBenchCommand() : base("eval", "Measure multiple-choice scoring: shared-context KV cache against one pass per choice")
    {
        Options.Add(questions);
        Options.Add(benchThreads);
        Options.Add(api);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var count = parse.GetValue(questions);
        if (count < 1) throw new ArgumentException("--questions must be at least 1");
        if (parse.GetValue(api)) return await ThroughApi(parse, context, cancel);
        var result = EvalBenchmark.Run(new EvalBenchmark.Settings { Questions = count, Threads = parse.GetValue(benchThreads) }, context.Info);
        if (context.Json)
        {
            context.WriteJson(JsonSerializer.SerializeToNode(result, Snake)!);
            return ExitCodes.Success;
        }
        var table = new Table().AddColumns("method", "questions/s", "seconds");
        table.AddRow("one pass per choice", $"{result.NaiveQuestionsPerSecond:F2}", $"{result.NaiveSeconds:F2}");
        table.AddRow("shared context (KV cache)", $"{result.SharedQuestionsPerSecond:F2}", $"{result.SharedSeconds:F2}");
        context.Out.Write(table);
        context.Out.MarkupLine($"speed-up (median CPU-time ratio): [bold]{result.Speedup:F2}x[/]; max |log-likelihood difference| {result.MaxAbsDifference:E1}");
        return ExitCodes.Success;
    }

    static readonly JsonSerializerOptions Snake = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    async Task<int> ThroughApi(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        // Questions default to 8 for the kernel comparison; the API needs enough to fill its concurrent requests.
        var count = parse.GetResult(questions) is { Implicit: false } ? parse.GetValue(questions) : 32;
        var result = await ApiEvalBenchmark.RunAsync(new ApiEvalBenchmark.Settings(Questions: count, Threads: parse.GetValue(benchThreads)), context.Info, cancel);
        var json = JsonSerializer.SerializeToNode(result, Snake)!.AsObject();
        if (context.Json)
        {
            context.WriteJson(json);
            return ExitCodes.Success;
        }
        var table = new Table().AddColumns("method", "questions/s");
        table.AddRow("in-process (shared-context KV cache)", $"{result.InProcessQuestionsPerSecond:F2}");
        table.AddRow("through the API (echo + logprobs + max_tokens 0)", $"{result.ApiQuestionsPerSecond:F2}");
        context.Out.Write(table);
        context.Out.MarkupLine($"API / in-process: [bold]{result.Ratio:F2}x[/]; max |log-likelihood difference| {result.MaxAbsDifference:E1}");
        return ExitCodes.Success;
    }
}
