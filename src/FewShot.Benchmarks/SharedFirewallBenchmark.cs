using System.Diagnostics;
using FewShot.Access;
using FewShot.Access.Keys;

namespace FewShot.Benchmarks;

/// <summary>What `fewshot bench firewall --store ... --limits ...` measured, with the machine's load around it.</summary>
public sealed record SharedFirewallReport(OverheadResult Overhead, int Instances, int Concurrency, double Seconds, long Admitted, long Refused,
    string LoadBefore, string LoadAfter)
{
    /// <summary>Admissions (gated requests answered 200) per second over every instance together.</summary>
    public double AdmissionsPerSecond => Admitted / Seconds;

    public IEnumerable<(string Check, bool Passed, string Numbers)> Checks()
    {
        yield return ("admission adds <= 2 ms p99", Overhead.P99OverheadMs <= 2,
            $"server-side p99 +{Overhead.P99OverheadMs:F3} ms (p50 +{Overhead.P50OverheadMs:F3}); client-side p50 +{Overhead.ClientP50OverheadMs:F3} ms");
        yield return (">= 5,000 admissions/s", AdmissionsPerSecond >= 5_000,
            $"{AdmissionsPerSecond:F0}/s over {Instances} instances ({Admitted} in {Seconds:F1} s, {Concurrency} clients, {Refused} refused)");
    }
}

/// <summary>
/// The access checks with a shared store and shared limits (PostgreSQL and Redis): admission overhead on one instance,
/// the same request with and without access control in the same run (<see cref="FirewallBenchmark.OverheadAsync"/>), then
/// admissions per second with three instances on the same store and Redis, clients spread over them. Every check is
/// active: a key with a budget and per-minute limits, the service's balance, per-address rate, concurrency cap.
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
            long admitted = 0, refused = 0;
            var length = duration ?? TimeSpan.FromSeconds(5);
            var clock = new Stopwatch();
            for (var phase = 0; phase < 2; phase++)  // a short warm-up, then the measured run
            {
                var until = phase == 0 ? TimeSpan.FromSeconds(1) : length;
                long ok = 0, no = 0;
                clock.Restart();
                await Parallel.ForAsync(0, concurrency, async (worker, _) =>
                {
                    var client = clients[worker % clients.Count];
                    while (clock.Elapsed < until)
                    {
                        using var response = await client.PostAsync("v1/chat/completions", FirewallBenchmark.Chat(4));
                        await response.Content.ReadAsByteArrayAsync();
                        Interlocked.Increment(ref response.IsSuccessStatusCode ? ref ok : ref no);
                    }
                });
                (admitted, refused) = (ok, no);
            }
            var seconds = clock.Elapsed.TotalSeconds;
            foreach (var client in clients) client.Dispose();
            return new SharedFirewallReport(overhead, servers.Count, concurrency, seconds, admitted, refused, loadBefore, LoadAverage());
        }
        finally
        {
            foreach (var server in servers) await server.DisposeAsync();
            foreach (var folder in folders) FirewallBenchmark.TryDelete(folder);
        }
    }

    /// <summary>The 1, 5 and 15 minute load averages (Linux), so a reader can judge how busy the machine was.</summary>
    static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
