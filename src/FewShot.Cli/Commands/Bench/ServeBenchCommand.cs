using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Benchmarks;
using Spectre.Console;

namespace FewShot.Cli.Commands.Bench;

/// <summary>fewshot bench serve --model DIR: throughput alone and with N streaming clients, time to first token, disconnects, memory.</summary>
public sealed class ServeBenchCommand : CliCommand
{
    readonly Option<string> model = CommonOptions.Model();
    readonly Option<int> clients = new("--clients") { Description = "Concurrent streaming clients", DefaultValueFactory = _ => 8 };
    readonly Option<int> requests = new("--requests") { Description = "Requests per client per phase", DefaultValueFactory = _ => 3 };
    readonly Option<int> maxTokens = new("--max-tokens") { Description = "Tokens per request", DefaultValueFactory = _ => 64 };
    readonly Option<int> memoryRequests = new("--memory-requests") { Description = "Short requests for the memory check (0 skips)", DefaultValueFactory = _ => 1000 };
    readonly Option<int> threads = CommonOptions.Threads();
    readonly Option<string> weights = new("--weights") { Description = "How the server decodes: f32, q8_0 (fused), torch (TorchSharp); default: the folder's format", DefaultValueFactory = _ => "" };

    public ServeBenchCommand() : base("serve", "Benchmark the chat server: batching speed-up, time to first token, disconnects, memory")
    {
        foreach (var o in new Option[] { model, clients, requests, maxTokens, memoryRequests, threads, weights }) Options.Add(o);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var options = new ServeBenchmarkOptions
        {
            Clients = Positive(parse.GetValue(clients), "--clients"),
            RequestsPerClient = Positive(parse.GetValue(requests), "--requests"),
            MaxTokens = Positive(parse.GetValue(maxTokens), "--max-tokens"),
            MemoryRequests = Math.Max(0, parse.GetValue(memoryRequests)),
            Threads = parse.GetValue(threads),
            Weights = parse.GetValue(weights)!,
        };
        var modelFolder = parse.GetValue(model)!;
        if (!Directory.Exists(modelFolder)) throw new DirectoryNotFoundException($"{modelFolder}: model folder not found");
        var result = await ServeBenchmark.RunAsync(modelFolder, options, new Progress<string>(context.Info), cancel);

        if (context.Json)
        {
            context.WriteJson(new JsonObject
            {
                ["single_client_tokens_per_second"] = result.SingleClientTokensPerSecond,
                ["concurrent_tokens_per_second"] = result.ConcurrentTokensPerSecond,
                ["clients"] = result.Clients,
                ["speedup"] = result.Speedup,
                ["ttft_p50_ms"] = result.TtftP50Ms,
                ["ttft_p99_ms"] = result.TtftP99Ms,
                ["single_ttft_p50_ms"] = result.SingleTtftP50Ms,
                ["cancel_to_free_p50_ms"] = result.CancelToFreeP50Ms,
                ["cancel_to_free_max_ms"] = result.CancelToFreeMaxMs,
                ["cancel_max_steps"] = result.CancelMaxSteps,
                ["mean_step_ms"] = result.MeanStepMs,
                ["tokens_per_step"] = result.TokensPerStep,
                ["memory_requests"] = result.MemoryRequests,
                ["working_set_start_mib"] = result.WorkingSetStartMiB,
                ["working_set_end_mib"] = result.WorkingSetEndMiB,
            });
            return ExitCodes.Success;
        }
        var table = new Table().AddColumns("measure", "value");
        table.AddRow("1 client", $"{result.SingleClientTokensPerSecond:F1} tokens/s (TTFT p50 {result.SingleTtftP50Ms:F1} ms)");
        table.AddRow($"{result.Clients} clients", $"{result.ConcurrentTokensPerSecond:F1} tokens/s ({result.Speedup:F1}x)");
        table.AddRow("TTFT under load", $"p50 {result.TtftP50Ms:F1} ms, p99 {result.TtftP99Ms:F1} ms");
        table.AddRow("under load", $"{result.TokensPerStep:F1} tokens per decoding step, {result.MeanStepMs:F2} ms per step");
        table.AddRow("disconnect -> row freed", $"p50 {result.CancelToFreeP50Ms:F2} ms, max {result.CancelToFreeMaxMs:F2} ms, at most {result.CancelMaxSteps} step(s)");
        if (result.MemoryRequests > 0)
            table.AddRow($"working set over {result.MemoryRequests} requests", $"{result.WorkingSetStartMiB:F0} -> {result.WorkingSetEndMiB:F0} MiB");
        context.Out.Write(table);
        return ExitCodes.Success;
    }

    static int Positive(int value, string name) => value > 0 ? value : throw new ArgumentException($"{name} must be positive, got {value}");
}
