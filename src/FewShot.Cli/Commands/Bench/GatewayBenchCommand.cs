using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Benchmarks;

namespace FewShot.Cli.Commands.Bench;

/// <summary>
/// fewshot bench gateway --model DIR: a local `fewshot serve` as the upstream, the gateway (keys, budgets and firewall on)
/// in front of it, and what the gateway adds: latency p50/p99, time to first token p50/p99, streamed throughput ratio.
/// </summary>
public sealed class GatewayBenchCommand : CliCommand
{
    readonly Option<string> model = CommonOptions.Model();
    readonly Option<int> requests = new("--requests") { Description = "Non-streamed and streamed requests each way", DefaultValueFactory = _ => 200 };
    readonly Option<int> streams = new("--streams") { Description = "Concurrent streams for the throughput ratio", DefaultValueFactory = _ => 16 };
    readonly Option<int> threads = CommonOptions.Threads();

    public GatewayBenchCommand() : base("gateway", "Measure what the gateway adds in front of an upstream model server (latency, TTFT, throughput)")
    {
        foreach (var o in new Option[] { model, requests, streams, threads }) Options.Add(o);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var modelFolder = parse.GetValue(model)!;
        if (!Directory.Exists(modelFolder)) throw new DirectoryNotFoundException($"{modelFolder}: model folder not found");
        var options = new GatewayBenchmarkOptions
        {
            Requests = Positive(parse.GetValue(requests), "--requests"),
            Streams = Positive(parse.GetValue(streams), "--streams"),
            Threads = parse.GetValue(threads),
        };
        var result = await GatewayBenchmark.RunAsync(modelFolder, options, new Progress<string>(context.Info), cancel);
        BenchOutput.Write(context, new JsonObject
        {
            ["added_p50_ms"] = result.AddedP50Ms,
            ["added_p99_ms"] = result.AddedP99Ms,
            ["added_ttft_p50_ms"] = result.AddedTtftP50Ms,
            ["added_ttft_p99_ms"] = result.AddedTtftP99Ms,
            ["relay_throughput_ratio"] = result.RelayThroughputRatio,
            ["direct_p50_ms"] = result.DirectP50Ms,
            ["direct_p99_ms"] = result.DirectP99Ms,
            ["gateway_p50_ms"] = result.GatewayP50Ms,
            ["gateway_p99_ms"] = result.GatewayP99Ms,
            ["direct_ttft_p50_ms"] = result.DirectTtftP50Ms,
            ["direct_ttft_p99_ms"] = result.DirectTtftP99Ms,
            ["gateway_ttft_p50_ms"] = result.GatewayTtftP50Ms,
            ["gateway_ttft_p99_ms"] = result.GatewayTtftP99Ms,
            ["direct_tokens_per_second"] = result.DirectTokensPerSecond,
            ["gateway_tokens_per_second"] = result.GatewayTokensPerSecond,
            ["requests"] = result.Requests,
            ["streams"] = result.Streams,
        });
        return ExitCodes.Success;
    }

    static int Positive(int value, string name) => value > 0 ? value : throw new ArgumentException($"{name} must be positive, got {value}");
}
