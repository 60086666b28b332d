using System.Diagnostics;
using FewShot.Access;
using FewShot.Access.Keys;

namespace FewShot.Benchmarks;

/// <summary>What `fewshot bench firewall --store ... --limits ...` measured, with the machine's load around it.</summary>
public sealed record SharedFirewallReport(OverheadResult Overhead, int Instances, int Concurrency, Throughput Gated, Throughput Ungated,
    string LoadBefore, string LoadAfter)
{
    /// <summary>Admissions (gated requests answered 200) per second over every instance together.</summary>
    public double AdmissionsPerSecond => Gated.PerSecond;

    /// <summary>The same requests with access control off, same instances and clients: the ceiling this machine allows.</summary>
    public double UngatedPerSecond => Ungated.PerSecond;

    public IEnumerable<(string Check, bool Passed, string Numbers)> Checks()
    {
        yield return ("admission adds <= 2 ms p99", Overhead.P99OverheadMs <= 2,
            $"server-side p99 +{Overhead.P99OverheadMs:F3} ms (p50 +{Overhead.P50OverheadMs:F3}); client-side p50 +{Overhead.ClientP50OverheadMs:F3} ms");
        yield return (">= 5,000 admissions/s", AdmissionsPerSecond >= 5_000,
            $"{AdmissionsPerSecond:F0}/s over {Instances} instances ({Gated.Succeeded} in {Gated.Seconds:F1} s, {Concurrency} clients, {Gated.Failed} refused); " +
            $"access control off: {UngatedPerSecond:F0}/s");
    }
}

/// <summary>One throughput run: requests answered 200 and the rest, over how long.</summary>
public sealed record Throughput(long Succeeded, long Failed, double Seconds)
{
    public double PerSecond => Succeeded / Seconds;
}

/// <summary>
/// The access checks with a shared store and shared limits (PostgreSQL and Redis): admission overhead on one instance,
/// the same request with and without access control in the same run (<see cref="FirewallBenchmark.OverheadAsync"/>), then
/// admissions per second with three instances on the same store and Redis, clients spread over them, and the same
/// requests with access control off on the same instances and clients (what the machine allows without the checks).
/// Every check is active: a key with a budget and per-minute limits, the service's balance, per-address rate, concurrency cap.
/// </summary>
public static class SharedFirewallBenchmark
{
    /// <param name="outboxSync">Access:OutboxSync of every instance: "full" (fsync per commit) or "normal".</param>
    public static async Task<SharedFirewallReport> RunAsync(string store, string limits, int overheadRequests = 2000, TimeSpan? duration = null,
        int concurrency = 64, IProgress<string>? progress = null, string outboxSync = "full")
    {
        var loadBefore = LoadAverage();
        void Shared(AccessOptions o)
        {
            o.Store = store;
            o.Limits = limits;
            o.OutboxSync = outboxSync;
            o.GlobalDailyBudgetTokens = KeyLimits.MaxBudget;
        }
        progress?.Report($"overhead: {overheadRequests} gated and {overheadRequests} ungated no-op requests, one at a time");
        var overhead = await FirewallBenchmark.OverheadAsync(overheadRequests, change: Shared);

        progress?.Report($"throughput: three instances, {concurrency} clients");
        var folders = Enumerable.Range(0, 3).Select(_ => FirewallBenchmark.TempFolder()).ToList();
        var servers = new List<SimulatedServer>();
        try
        {
            foreach (var folder in folders) servers.Add(await SimulatedServer.StartAsync(FirewallBenchmark.Options(folder, Shared), TimeSpan.Zero));
            var key = (await servers[0].Access.Keys.IssueAsync(new KeySpec("throughput", null, [], [],
                new KeyLimits(BudgetTokens: KeyLimits.MaxBudget, RequestsPerMinute: KeyLimits.MaxRate, TokensPerMinute: KeyLimits.MaxRate)), "bench")).Key;
            var clients = servers.Select(s => FirewallBenchmark.Client(s.BaseAddress, key, "198.51.100.7")).ToList();
            var length = duration ?? TimeSpan.FromSeconds(5);
            var ungated = await ThroughputAsync(clients, "bench/ungated/chat/completions", concurrency, length);
            var gated = await ThroughputAsync(clients, "v1/chat/completions", concurrency, length);
            foreach (var client in clients) client.Dispose();
            return new SharedFirewallReport(overhead, servers.Count, concurrency, gated, ungated, loadBefore, LoadAverage());
        }
        finally
        {
            foreach (var server in servers) await server.DisposeAsync();
            foreach (var folder in folders) FirewallBenchmark.TryDelete(folder);
        }
    }

    /// <summary>
    /// <paramref name="concurrency"/> clients sending one request after another to <paramref name="path"/>, spread over the
    /// instances: a warm-up, then the measured run. The warm-up is three seconds: after one, the tiered JIT was still
    /// recompiling the gated path and took a quarter of the CPU in the measured run (perf).
    /// </summary>
    static async Task<Throughput> ThroughputAsync(List<HttpClient> clients, string path, int concurrency, TimeSpan length)
    {
        var result = new Throughput(0, 0, 0);
        var clock = new Stopwatch();
        foreach (var until in new[] { TimeSpan.FromSeconds(3), length })
        {
            long ok = 0, no = 0;
            clock.Restart();
            // Parallel.ForAsync runs only as many bodies at once as there are cores unless told otherwise.
            await Parallel.ForAsync(0, concurrency, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (worker, _) =>
            {
                var client = clients[worker % clients.Count];
                while (clock.Elapsed < until)
                {
                    using var response = await client.PostAsync(path, FirewallBenchmark.Chat(4));
                    await response.Content.ReadAsByteArrayAsync();
                    Interlocked.Increment(ref response.IsSuccessStatusCode ? ref ok : ref no);
                }
            });
            result = new Throughput(ok, no, clock.Elapsed.TotalSeconds);
        }
        return result;
    }

    /// <summary>The 1, 5 and 15 minute load averages (Linux), so a reader can judge how busy the machine was.</summary>
    static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
