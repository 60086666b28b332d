using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Cli.Plots;
using FewShot.Benchmarks;
using Spectre.Console;

namespace FewShot.Cli.Commands.Bench;

/// <summary>fewshot bench attention: forward+backward time and peak memory of dense versus sparse attention against T.</summary>
public sealed class AttentionBenchCommand : CliCommand
{
    readonly Option<string> contexts = new("--ctx") { DefaultValueFactory = _ => "1024,2048,4096,8192", Description = "Context lengths, comma-separated" };
    readonly Option<int> window = new("--window") { DefaultValueFactory = _ => 256, Description = "Window of the local pattern" };
    readonly Option<string> patterns = new("--patterns") { DefaultValueFactory = _ => string.Join(",", AttentionBenchmark.Patterns), Description = "Patterns to measure" };
    readonly Option<int> heads = new("--heads") { DefaultValueFactory = _ => 6, Description = $"Heads (of {AttentionBenchmark.HeadSize} dimensions)" };
    readonly Option<string> plot = new("--plot") { DefaultValueFactory = _ => "bench-attention.png", Description = "Where to write the log-log plot" };
    readonly Option<int> generate = new("--generate") { DefaultValueFactory = _ => 0, Description = "Also generate this many tokens with all-dense and alternating layouts and report KV-cache memory" };
    readonly Option<int> threads = CommonOptions.Threads();

    public AttentionBenchCommand() : base("attention", "Time dense against sparse attention, forward and backward")
    {
        foreach (var o in new Option[] { contexts, window, patterns, heads, plot, generate, threads }) Options.Add(o);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        CommonOptions.ResolveDevice("cpu", parse.GetValue(threads));
        var lengths = ParseList(parse.GetValue(contexts)!, "--ctx");
        var names = parse.GetValue(patterns)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var w = parse.GetValue(window);
        if (w < 1 || w > lengths.Max()) throw new ArgumentException($"--window must be between 1 and the largest context ({lengths.Max()}), got {w}");
        foreach (var name in names)
            if (!AttentionBenchmark.Patterns.Contains(name)) throw new ArgumentException($"--patterns: unknown pattern '{name}' (known: {string.Join(", ", AttentionBenchmark.Patterns)})");

        var results = new List<AttentionResult>();
        var cases = lengths.SelectMany(T => names.Select(name => (name, T))).ToArray();
        var h = parse.GetValue(heads);
        context.Progress().Start(p =>
        {
            // Every time first: measuring a peak changes how glibc allocates for the rest of the process.
            var timing = p.AddTask("attention time", maxValue: cases.Length);
            var memory = p.AddTask("attention peak memory", maxValue: cases.Length);
            var seconds = new Dictionary<(string, int), double>();
            foreach (var (name, T) in cases)
            {
                cancel.ThrowIfCancellationRequested();
                timing.Description = $"time {name} T={T}";
                seconds[(name, T)] = AttentionBenchmark.Seconds(name, T, w, h);
                timing.Increment(1);
            }
            foreach (var (name, T) in cases)
            {
                cancel.ThrowIfCancellationRequested();
                memory.Description = $"peak memory {name} T={T}";
                results.Add(new AttentionResult(name, T, w, h, AttentionBenchmark.HeadSize, seconds[(name, T)], AttentionBenchmark.PeakBytes(name, T, w, h)));
                memory.Increment(1);
            }
        });

        var cacheResults = new List<CacheMemoryResult>();
        if (parse.GetValue(generate) is > 0 and var tokens)
            context.Progress().Start(p =>
            {
                var task = p.AddTask("KV cache", maxValue: 2);
                foreach (var layout in new[] { "dense", "alternating" })
                {
                    task.Description = $"generating {tokens} tokens, {layout}";
                    cacheResults.Add(CacheMemoryBenchmark.Run(layout, tokens, w));
                    task.Increment(1);
                }
            });

        var plotPath = parse.GetValue(plot)!;
        LogLogPlot.Save(plotPath, $"Attention forward + backward, {parse.GetValue(heads)} heads x {AttentionBenchmark.HeadSize}, window {w}", "context length T", "seconds",
            names.Select(n => new LogLogPlot.Series(n, results.Where(r => r.Pattern == n).Select(r => (double)r.Context).ToArray(),
                results.Where(r => r.Pattern == n).Select(r => r.Seconds).ToArray())));

        if (context.Json)
        {
            var rows = results.Select(r => (JsonNode)new JsonObject
            {
                ["pattern"] = r.Pattern, ["ctx"] = r.Context, ["window"] = r.Window, ["heads"] = r.Heads, ["head_size"] = r.HeadSize,
                ["seconds"] = Math.Round(r.Seconds, 5), ["peak_bytes"] = r.PeakBytes,
                ["speedup_vs_dense"] = results.FirstOrDefault(d => d.Pattern == "dense" && d.Context == r.Context) is { } dense ? Math.Round(dense.Seconds / r.Seconds, 3) : null,
            });
            var cacheRows = cacheResults.Select(r => (JsonNode)new JsonObject
            {
                ["pattern"] = "generate-" + r.Layout, ["ctx"] = r.Tokens, ["window"] = w, ["seconds"] = Math.Round(r.Seconds, 3),
                ["peak_bytes"] = r.PeakBytes, ["kv_cache_bytes"] = r.CacheBytes,
            });
            context.WriteJson(new JsonArray(rows.Concat(cacheRows).ToArray()));
            return Task.FromResult(ExitCodes.Success);
        }
        var table = new Table().AddColumns("pattern", "T", "seconds", "peak memory", "vs dense");
        foreach (var r in results)
        {
            var dense = results.FirstOrDefault(d => d.Pattern == "dense" && d.Context == r.Context);
            table.AddRow(r.Pattern, $"{r.Context}", $"{r.Seconds:F4}", Units.Bytes(r.PeakBytes), dense is null ? "-" : $"{dense.Seconds / r.Seconds:F2}x");
        }
        context.Out.Write(table);
        if (cacheResults.Count > 0)
        {
            var cacheTable = new Table().AddColumns("generation", "tokens", "KV cache", "peak memory", "seconds");
            foreach (var r in cacheResults) cacheTable.AddRow(r.Layout, $"{r.Tokens}", Units.Bytes(r.CacheBytes), Units.Bytes(r.PeakBytes), $"{r.Seconds:F1}");
            context.Out.Write(cacheTable);
        }
        context.Out.MarkupLine($"plot: {Markup.Escape(plotPath)}");
        return Task.FromResult(ExitCodes.Success);
    }

    internal static int[] ParseList(string text, string option) =>
        text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(x => int.TryParse(x, out var n) && n > 0 ? n : throw new ArgumentException($"{option}: '{x}' is not a positive integer")).ToArray();
}
