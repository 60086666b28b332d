using FewShot.Model;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FewShot.Serving.Engine;
using FewShot.Serving.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FewShot.Benchmarks;

/// <summary>What <c>fewshot bench serve</c> measures.</summary>
public sealed record ServeBenchmarkOptions
{
    public int Clients { get; init; } = 8;
    /// <summary>Streaming requests per client in each phase.</summary>
    public int RequestsPerClient { get; init; } = 3;
    public int MaxTokens { get; init; } = 64;
    public string Prompt { get; init; } = "The history of the city begins";
    /// <summary>Requests for the memory check (0 skips it).</summary>
    public int MemoryRequests { get; init; } = 1000;
    public int Disconnects { get; init; } = 5;
    public int Threads { get; init; }
    /// <summary>How the server decodes (Serving:Weights): f32, q8_0, torch, or empty for the folder's format.</summary>
    public string Weights { get; init; } = "";
}

/// <summary>Measured numbers: throughput alone and under load, time to first token, cancellation and memory.</summary>
public sealed record ServeBenchmarkResult(
    double SingleClientTokensPerSecond, double ConcurrentTokensPerSecond, int Clients,
    double TtftP50Ms, double TtftP99Ms, double SingleTtftP50Ms,
    double CancelToFreeP50Ms, double CancelToFreeMaxMs, int CancelMaxSteps, double MeanStepMs, double TokensPerStep,
    int MemoryRequests, double WorkingSetStartMiB, double WorkingSetEndMiB)
{
    /// <summary>Wall-clock gain of N clients over one: batching (<see cref="TokensPerStep"/>) times how little a wider step costs.</summary>
    public double Speedup => ConcurrentTokensPerSecond / SingleClientTokensPerSecond;
}

/// <summary>
/// Starts the real server on a loopback port and drives it with streaming HTTP clients, as users would:
/// one client alone, then N at once (continuous batching should multiply aggregate tokens/s), then clients that
/// disconnect mid-stream (their rows must be freed within one decoding step), then many short requests while the
/// process's working set is watched.
/// </summary>
public static class ServeBenchmark
{
    public static async Task<ServeBenchmarkResult> RunAsync(string modelFolder, ServeBenchmarkOptions options, IProgress<string>? progress = null,
        CancellationToken cancel = default)
    {
        var app = ServingHost.Build(new Dictionary<string, string?>
        {
            ["Serving:Model"] = modelFolder,
            ["Serving:ModelName"] = "bench",
            ["Serving:MaxConcurrentSequences"] = Math.Max(options.Clients, 1).ToString(),
            ["Serving:MaxQueueLength"] = "1024",
            ["Serving:Threads"] = options.Threads.ToString(),
            ["Serving:Weights"] = options.Weights,
        }, urls: ["http://127.0.0.1:0"], customize: b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync(cancel);
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(10) };
            var scheduler = app.Services.GetRequiredService<BatchScheduler>();

            progress?.Report("warming up");
            await StreamAsync(http, options with { MaxTokens = 4 }, cancel);

            progress?.Report("1 client");
            var single = await PhaseAsync(http, 1, options, cancel);
            progress?.Report($"{options.Clients} concurrent clients");
            var stepsBefore = scheduler.Steps;
            var started = Stopwatch.GetTimestamp();
            var concurrent = await PhaseAsync(http, options.Clients, options, cancel);
            var concurrentSteps = Math.Max(1, scheduler.Steps - stepsBefore);
            var meanStepMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds / concurrentSteps;
            var tokensPerStep = (double)concurrent.Tokens / concurrentSteps;

            progress?.Report("disconnecting clients");
            var cancellations = await DisconnectsAsync(http, scheduler, options, cancel);

            double memoryStart = 0, memoryEnd = 0;
            if (options.MemoryRequests > 0)
            {
                progress?.Report($"{options.MemoryRequests} requests for the memory check");
                var shortRequests = options with { MaxTokens = 8 };
                async Task Many(int count)
                {
                    for (var done = 0; done < count; done += options.Clients)
                        await Task.WhenAll(Enumerable.Range(0, Math.Min(options.Clients, count - done)).Select(_ => StreamAsync(http, shortRequests, cancel)));
                }
                await Many(Math.Min(200, options.MemoryRequests));
                memoryStart = WorkingSetMiB();
                await Many(options.MemoryRequests);
                memoryEnd = WorkingSetMiB();
            }

            return new ServeBenchmarkResult(single.TokensPerSecond, concurrent.TokensPerSecond, options.Clients,
                Percentile(concurrent.Ttft, 0.5), Percentile(concurrent.Ttft, 0.99), Percentile(single.Ttft, 0.5),
                Percentile(cancellations.Select(c => c.Milliseconds).ToList(), 0.5), cancellations.Count == 0 ? 0 : cancellations.Max(c => c.Milliseconds),
                cancellations.Count == 0 ? 0 : cancellations.Max(c => c.Steps), meanStepMs, tokensPerStep,
                options.MemoryRequests, memoryStart, memoryEnd);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    static double WorkingSetMiB()
    {
        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64 / (1024.0 * 1024);
    }

    sealed record Phase(double TokensPerSecond, int Tokens, List<double> Ttft);

    static async Task<Phase> PhaseAsync(HttpClient http, int clients, ServeBenchmarkOptions options, CancellationToken cancel)
    {
        var started = Stopwatch.GetTimestamp();
        var runs = await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            var list = new List<(int Tokens, double TtftMs)>();
            for (var i = 0; i < options.RequestsPerClient; i++) list.Add(await StreamAsync(http, options, cancel));
            return list;
        }));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var all = runs.SelectMany(r => r).ToList();
        return new Phase(all.Sum(r => r.Tokens) / seconds, all.Sum(r => r.Tokens), all.Select(r => r.TtftMs).ToList());
    }

    static HttpRequestMessage Request(ServeBenchmarkOptions options, int maxTokens) => new(HttpMethod.Post, "v1/completions")
    {
        Content = new StringContent(JsonSerializer.Serialize(new
        {
            model = "bench", prompt = options.Prompt, max_tokens = maxTokens, temperature = 1.0, stream = true, stream_options = new { include_usage = true },
        }), Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
    };

    // One streaming completion; returns the generated tokens (from the usage chunk) and the time to the first chunk.
    static async Task<(int Tokens, double TtftMs)> StreamAsync(HttpClient http, ServeBenchmarkOptions options, CancellationToken cancel)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(Request(options, options.MaxTokens), HttpCompletionOption.ResponseHeadersRead, cancel);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel));
        double ttft = double.NaN;
        var tokens = 0;
        while (await reader.ReadLineAsync(cancel) is { } line)
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal)) continue;
            if (double.IsNaN(ttft)) ttft = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            using var json = JsonDocument.Parse(line.AsMemory(6));
            if (json.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                tokens = usage.GetProperty("completion_tokens").GetInt32();
        }
        return (tokens, ttft);
    }

    // Streams next to busy neighbours, drops the connection after a few chunks, and reads how fast the row was freed.
    static async Task<List<CancellationRecord>> DisconnectsAsync(HttpClient http, BatchScheduler scheduler, ServeBenchmarkOptions options, CancellationToken cancel)
    {
        var records = new List<CancellationRecord>();
        using var stopNeighbours = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var neighbours = Enumerable.Range(0, Math.Max(0, options.Clients - 2)).Select(_ => Task.Run(async () =>
        {
            try { while (!stopNeighbours.IsCancellationRequested) await StreamAsync(http, options, stopNeighbours.Token); }
            catch (OperationCanceledException) { }
        })).ToArray();
        for (var i = 0; i < options.Disconnects; i++)
        {
            var before = scheduler.RecentCancellations.Count;
            using (var leaving = CancellationTokenSource.CreateLinkedTokenSource(cancel))
            {
                using var response = await http.SendAsync(Request(options, Math.Max(options.MaxTokens * 4, 64)), HttpCompletionOption.ResponseHeadersRead, leaving.Token);
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(leaving.Token));
                for (var chunks = 0; chunks < 3 && await reader.ReadLineAsync(leaving.Token) is { } line;) if (line.StartsWith("data: {", StringComparison.Ordinal)) chunks++;
                await leaving.CancelAsync(); // drop the connection mid-stream
            }
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 10;
            while (scheduler.RecentCancellations.Count == before && Stopwatch.GetTimestamp() < deadline) await Task.Delay(1, cancel);
            records.AddRange(scheduler.RecentCancellations.Skip(before));
        }
        await stopNeighbours.CancelAsync();
        await Task.WhenAll(neighbours);
        return records;
    }

    internal static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        if (sorted.Length == 0) return 0;
        var rank = p * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = Math.Min(sorted.Length - 1, low + 1);
        return sorted[low] + (rank - low) * (sorted[high] - sorted[low]);
    }
}
