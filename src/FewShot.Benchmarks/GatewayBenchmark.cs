using System.Diagnostics;
using System.Text;
using System.Text.Json;
using FewShot.Access;
using FewShot.Access.Http;
using FewShot.Access.Keys;
using FewShot.Serving.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FewShot.Benchmarks;

/// <summary>What <c>fewshot bench gateway</c> measures.</summary>
public sealed record GatewayBenchmarkOptions
{
    /// <summary>Non-streamed requests, and separately streamed ones, per side (direct and through the gateway).</summary>
    public int Requests { get; init; } = 200;
    public int Streams { get; init; } = 16;
    public int StreamTokens { get; init; } = 64;
    public int Threads { get; init; }
}

/// <summary>Through the gateway minus direct to the upstream, in one run: latency percentiles, time to first token, streamed throughput.</summary>
public sealed record GatewayBenchmarkResult(
    double DirectP50Ms, double DirectP99Ms, double GatewayP50Ms, double GatewayP99Ms,
    double DirectTtftP50Ms, double DirectTtftP99Ms, double GatewayTtftP50Ms, double GatewayTtftP99Ms,
    double DirectTokensPerSecond, double GatewayTokensPerSecond, int Requests, int Streams)
{
    public double AddedP50Ms => GatewayP50Ms - DirectP50Ms;
    public double AddedP99Ms => GatewayP99Ms - DirectP99Ms;
    public double AddedTtftP50Ms => GatewayTtftP50Ms - DirectTtftP50Ms;
    public double AddedTtftP99Ms => GatewayTtftP99Ms - DirectTtftP99Ms;
    public double RelayThroughputRatio => GatewayTokensPerSecond / DirectTokensPerSecond;
}

/// <summary>
/// Starts a local <c>fewshot serve</c> as the upstream and a second server in front of it as the gateway (access control
/// on: key, budget, rate limits, on a fresh SQLite store), both on loopback, and sends the same requests to each,
/// interleaved so that both sides see the same machine: non-streamed completions one at a time (latency), streamed ones
/// one at a time (time to first token), then N streams at once (aggregate tokens per second).
/// </summary>
public static class GatewayBenchmark
{
    public const string Model = "bench";

    public static async Task<GatewayBenchmarkResult> RunAsync(string modelFolder, GatewayBenchmarkOptions options, IProgress<string>? progress = null,
        CancellationToken cancel = default)
    {
        var store = Directory.CreateTempSubdirectory("fewshot-bench-gateway-").FullName;
        var upstream = ServingHost.Build(new Dictionary<string, string?>
        {
            ["Serving:Model"] = modelFolder, ["Serving:ModelName"] = Model, ["Serving:Threads"] = options.Threads.ToString(),
            ["Serving:MaxConcurrentSequences"] = Math.Max(options.Streams, 1).ToString(), ["Serving:MaxQueueLength"] = "1024",
        }, urls: ["http://127.0.0.1:0"], customize: b => b.Logging.ClearProviders());
        await upstream.StartAsync(cancel);
        WebApplication? gateway = null;
        try
        {
            var upstreamUrl = upstream.Address();
            gateway = ServingHost.Build(new Dictionary<string, string?>
            {
                // The gateway's own in-process model is the same folder under another name; requests go to the upstream's.
                ["Serving:Model"] = modelFolder, ["Serving:ModelName"] = "gateway-local", ["Serving:Threads"] = "1",
                ["Serving:Upstreams:local:BaseUrl"] = new Uri(upstreamUrl, "v1").ToString(),
                ["Serving:Upstreams:local:Models:0:Name"] = Model,
                ["Serving:Upstreams:local:MaxConcurrency"] = "1024",
            }, urls: ["http://127.0.0.1:0"], customize: b =>
            {
                b.Logging.ClearProviders(); // stdout carries the one JSON object
                b.Services.AddFewShotAccess(o =>
                {
                    o.DatabasePath = Path.Combine(store, "access.db");
                    o.OnAdminKeyCreated = _ => { };
                    o.IpRequestsPerMinute = 1_000_000;
                    o.MaxConcurrentGenerations = 1024;
                });
            }, guard: web => web.UseFewShotAccess());
            await gateway.StartAsync(cancel);
            var key = (await gateway.Services.GetRequiredService<AccessRuntime>().Keys
                .IssueAsync(new KeySpec("bench", null, [], [], new KeyLimits(BudgetTokens: KeyLimits.MaxBudget)), "bench", cancel)).Key;
            using var direct = Client(upstreamUrl, null);
            using var relayed = Client(gateway.Address(), key);

            progress?.Report("warming up");
            for (var i = 0; i < 10; i++)
            {
                await CompleteAsync(direct, cancel);
                await CompleteAsync(relayed, cancel);
            }

            progress?.Report($"{options.Requests} non-streamed requests each way");
            List<double> directMs = [], gatewayMs = [];
            for (var i = 0; i < options.Requests; i++)
            {
                directMs.Add(await CompleteAsync(direct, cancel));
                gatewayMs.Add(await CompleteAsync(relayed, cancel));
            }

            progress?.Report($"{options.Requests} streamed requests each way (time to first token)");
            List<double> directTtft = [], gatewayTtft = [];
            for (var i = 0; i < options.Requests; i++)
            {
                directTtft.Add((await StreamAsync(direct, 4, cancel)).TtftMs);
                gatewayTtft.Add((await StreamAsync(relayed, 4, cancel)).TtftMs);
            }

            progress?.Report($"{options.Streams} concurrent streams each way");
            double directTps = 0, gatewayTps = 0;
            for (var round = 0; round < 2; round++)
            {
                directTps += await ThroughputAsync(direct, options, cancel);
                gatewayTps += await ThroughputAsync(relayed, options, cancel);
            }

            return new GatewayBenchmarkResult(
                Percentile(directMs, 0.5), Percentile(directMs, 0.99), Percentile(gatewayMs, 0.5), Percentile(gatewayMs, 0.99),
                Percentile(directTtft, 0.5), Percentile(directTtft, 0.99), Percentile(gatewayTtft, 0.5), Percentile(gatewayTtft, 0.99),
                directTps / 2, gatewayTps / 2, options.Requests, options.Streams);
        }
        finally
        {
            if (gateway is not null)
            {
                await gateway.StopAsync(CancellationToken.None);
                await gateway.DisposeAsync();
            }
            await upstream.StopAsync(CancellationToken.None);
            await upstream.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(store, recursive: true); } catch (IOException) { }
        }
    }

    static HttpClient Client(Uri baseUrl, string? key)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 256 }) { BaseAddress = baseUrl, Timeout = TimeSpan.FromMinutes(5) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    static StringContent Body(int maxTokens, bool stream) => new(JsonSerializer.Serialize(new
    {
        model = Model, prompt = "The history of the city begins", max_tokens = maxTokens, temperature = 1.0, stream,
        stream_options = stream ? new { include_usage = true } : null,
    }), Encoding.UTF8, "application/json");

    /// <summary>One non-streamed completion of 4 tokens: milliseconds until the whole answer is read.</summary>
    static async Task<double> CompleteAsync(HttpClient http, CancellationToken cancel)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await http.PostAsync("v1/completions", Body(4, stream: false), cancel);
        response.EnsureSuccessStatusCode();
        await response.Content.ReadAsByteArrayAsync(cancel);
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    /// <summary>One streamed completion: time to the first chunk with text, and the completion tokens of the usage chunk.</summary>
    static async Task<(double TtftMs, int Tokens)> StreamAsync(HttpClient http, int maxTokens, CancellationToken cancel)
    {
        var started = Stopwatch.GetTimestamp();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Body(maxTokens, stream: true) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel));
        var ttft = double.NaN;
        var tokens = 0;
        while (await reader.ReadLineAsync(cancel) is { } line)
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal)) continue;
            using var json = JsonDocument.Parse(line.AsMemory(6));
            if (double.IsNaN(ttft) && json.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
                ttft = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (json.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                tokens = usage.GetProperty("completion_tokens").GetInt32();
        }
        return (ttft, tokens);
    }

    static async Task<double> ThroughputAsync(HttpClient http, GatewayBenchmarkOptions options, CancellationToken cancel)
    {
        var started = Stopwatch.GetTimestamp();
        var runs = await Task.WhenAll(Enumerable.Range(0, options.Streams).Select(_ => StreamAsync(http, options.StreamTokens, cancel)));
        return runs.Sum(r => r.Tokens) / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    static double Percentile(List<double> values, double p) => ServeBenchmark.Percentile(values, p);
}
