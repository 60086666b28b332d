using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using FewShot.Access.Keys;

namespace FewShot.Access.Bench;

/// <summary>Latency percentiles in milliseconds.</summary>
public sealed record Latency(int Count, double P50, double P99)
{
    public static Latency Of(List<double> ms)
    {
        ms.Sort();
        return new Latency(ms.Count, At(ms, 0.50), At(ms, 0.99));
    }

    static double At(List<double> sorted, double q) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
}

/// <summary>10,000 random keys from one address while a legitimate client keeps working.</summary>
public sealed record FloodResult(int AttackRequests, int Unauthorized, int LockedOut, int OtherStatus, int FailuresBeforeLockout, int Threshold,
    long AttackTokensGenerated, Latency LegitimateAlone, Latency LegitimateDuringFlood, int LegitimateFailures, double FloodSeconds);

/// <summary>Many requests at once against one budget: what was admitted, charged and refused.</summary>
public sealed record BudgetRaceResult(int Requests, long Budget, int TokensPerRequest, int Admitted, int InsufficientQuota, int OtherStatus, long ChargedTokens);

/// <summary>The same no-op chat request with and without the access checks.</summary>
public sealed record OverheadResult(Latency Ungated, Latency Gated)
{
    public double P99OverheadMs => Gated.P99 - Ungated.P99;
    public double P50OverheadMs => Gated.P50 - Ungated.P50;
}

/// <summary>
/// `fewshot bench firewall`: attack simulations against <see cref="SimulatedServer"/> (real Kestrel on loopback, the real
/// middleware, gate and SQLite store). Clients are told apart by X-Forwarded-For with loopback as the trusted proxy,
/// as behind a reverse proxy on the same host.
/// </summary>
public static class FirewallBenchmark
{
    const string Attacker = "203.0.113.66";
    const string Legitimate = "198.51.100.7";

    static AccessOptions Options(string folder, Action<AccessOptions>? change = null)
    {
        var options = new AccessOptions
        {
            DatabasePath = Path.Combine(folder, "access.db"),
            TrustedProxies = ["127.0.0.1/32", "::1/128"],
            IpRequestsPerMinute = 1_000_000,
            MaxConcurrentGenerations = 1024,
            OnAdminKeyCreated = _ => { },
        };
        change?.Invoke(options);
        return options;
    }

    static HttpClient Client(Uri baseAddress, string? key, string ip)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, UseProxy = false }) { BaseAddress = baseAddress };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        client.DefaultRequestHeaders.Add("X-Forwarded-For", ip);
        return client;
    }

    static StringContent Chat(int maxTokens, string prompt = "say something short") => new(
        $$"""{"model":"fewshot","messages":[{"role":"user","content":"{{prompt}}"}],"max_tokens":{{maxTokens}}}""", Encoding.UTF8, "application/json");

    static string TempFolder() => Directory.CreateTempSubdirectory("fewshot-firewall-").FullName;

    /// <summary>
    /// The flood: a legitimate client's latency alone, then 10,000 requests with random well-formed keys (valid checksums, so
    /// each one costs a database look-up until the lockout) from one address at <paramref name="attackConcurrency"/> in
    /// flight, while the legitimate client keeps sending.
    /// </summary>
    public static async Task<FloodResult> FloodAsync(int attackRequests = 10_000, int attackConcurrency = 8, int legitimateRequests = 300,
        TimeSpan? generationTime = null, IProgress<int>? progress = null)
    {
        var folder = TempFolder();
        try
        {
            await using var server = await SimulatedServer.StartAsync(Options(folder), generationTime ?? TimeSpan.FromMilliseconds(5));
            var key = (await server.Access.Keys.IssueAsync(new KeySpec("legitimate", null, [], [], KeyLimits.None), "bench")).Key;
            using var legit = Client(server.BaseAddress, key, Legitimate);
            using var attack = Client(server.BaseAddress, null, Attacker);

            for (var i = 0; i < 50; i++) await legit.PostAsync("v1/chat/completions", Chat(4));  // warm-up
            var (alone, _) = await LegitimateLoopAsync(legit, legitimateRequests, () => false);

            var tokensBefore = server.TokensGenerated;
            int unauthorized = 0, locked = 0, other = 0, sent = -1, firstLockout = -1;
            var flood = Stopwatch.StartNew();
            var done = false;
            var legitimateTask = LegitimateLoopAsync(legit, int.MaxValue, () => Volatile.Read(ref done));
            await Parallel.ForAsync(0, attackConcurrency, async (_, cancel) =>
            {
                while (true)
                {
                    var n = Interlocked.Increment(ref sent);
                    if (n >= attackRequests) return;
                    using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Chat(16) };
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", KeyFormat.Generate(KeyKind.Personal));
                    using var response = await attack.SendAsync(request, cancel);
                    switch (response.StatusCode)
                    {
                        case HttpStatusCode.Unauthorized: Interlocked.Increment(ref unauthorized); break;
                        case HttpStatusCode.Forbidden:
                            if (Interlocked.Increment(ref locked) == 1) Volatile.Write(ref firstLockout, Volatile.Read(ref unauthorized));
                            break;
                        default: Interlocked.Increment(ref other); break;
                    }
                    if (n % 500 == 0) progress?.Report(n);
                }
            });
            var floodSeconds = flood.Elapsed.TotalSeconds;
            Volatile.Write(ref done, true);
            var (during, failures) = await legitimateTask;
            // Tokens the legitimate client got are 4 per request; whatever else was generated went to the attacker.
            var attackTokens = server.TokensGenerated - tokensBefore - 4L * (during.Count - failures);
            return new FloodResult(attackRequests, unauthorized, locked, other, firstLockout < 0 ? unauthorized : firstLockout,
                server.Access.Options.LockoutThreshold, attackTokens, alone, during, failures, floodSeconds);
        }
        finally { TryDelete(folder); }
    }

    static async Task<(Latency, int Failures)> LegitimateLoopAsync(HttpClient client, int count, Func<bool> stop)
    {
        var times = new List<double>();
        var failures = 0;
        for (var i = 0; i < count && !stop(); i++)
        {
            var watch = Stopwatch.StartNew();
            using var response = await client.PostAsync("v1/chat/completions", Chat(4));
            await response.Content.ReadAsByteArrayAsync();
            times.Add(watch.Elapsed.TotalMilliseconds);
            if (!response.IsSuccessStatusCode) failures++;
        }
        return (Latency.Of(times), failures);
    }

    /// <summary>
    /// <paramref name="requests"/> requests at once: on one key whose budget covers <paramref name="completionsCovered"/>
    /// of them (<paramref name="global"/> false), or on as many keys as requests under a global balance covering that many.
    /// </summary>
    public static async Task<BudgetRaceResult> BudgetRaceAsync(bool global, int requests = 200, int completionsCovered = 20)
    {
        var folder = TempFolder();
        try
        {
            // Each request: prompt "say something short" = 3 tokens, max_tokens 16 -> 19 tokens reserved and charged.
            const int perRequest = 3 + 16;
            long budget = perRequest * completionsCovered;
            await using var server = await SimulatedServer.StartAsync(
                Options(folder, o => o.GlobalDailyBudgetTokens = global ? budget : null), TimeSpan.FromMilliseconds(20));
            var keys = new List<string>();
            for (var i = 0; i < (global ? requests : 1); i++)
                keys.Add((await server.Access.Keys.IssueAsync(new KeySpec($"race {i}", null, [], [],
                    global ? KeyLimits.None : new KeyLimits(BudgetTokens: budget)), "bench")).Key);

            using var client = Client(server.BaseAddress, null, Legitimate);
            int admitted = 0, quota = 0, other = 0;
            var start = new TaskCompletionSource();
            var tasks = Enumerable.Range(0, requests).Select(async i =>
            {
                await start.Task;
                using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Chat(16) };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", keys[i % keys.Count]);
                using var response = await client.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                if (response.IsSuccessStatusCode) Interlocked.Increment(ref admitted);
                else if ((int)response.StatusCode == 429 && body.Contains("insufficient_quota", StringComparison.Ordinal)) Interlocked.Increment(ref quota);
                else Interlocked.Increment(ref other);
            }).ToList();
            start.SetResult();
            await Task.WhenAll(tasks);
            await server.Access.Budgets.FlushAsync();
            var charged = await server.Access.Store.SumUsageAsync(null, DateTimeOffset.UnixEpoch);
            return new BudgetRaceResult(requests, budget, perRequest, admitted, quota, other, charged);
        }
        finally { TryDelete(folder); }
    }

    /// <summary>Alternates the gated and the ungated no-op request, one at a time, and compares their latency percentiles.</summary>
    public static async Task<OverheadResult> OverheadAsync(int requests = 3000, IProgress<int>? progress = null)
    {
        var folder = TempFolder();
        try
        {
            await using var server = await SimulatedServer.StartAsync(Options(folder), TimeSpan.Zero);
            var key = (await server.Access.Keys.IssueAsync(new KeySpec("overhead", null, [], [],
                new KeyLimits(BudgetTokens: 1_000_000_000, RequestsPerMinute: 1_000_000, TokensPerMinute: 10_000_000)), "bench")).Key;
            using var client = Client(server.BaseAddress, key, Legitimate);
            var gated = new List<double>();
            var ungated = new List<double>();
            for (var i = -300; i < requests; i++)
            {
                foreach (var (path, times) in new[] { ("v1/chat/completions", gated), ("bench/ungated/chat/completions", ungated) })
                {
                    var watch = Stopwatch.StartNew();
                    using var response = await client.PostAsync(path, Chat(4));
                    await response.Content.ReadAsByteArrayAsync();
                    if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{path}: {(int)response.StatusCode}");
                    if (i >= 0) times.Add(watch.Elapsed.TotalMilliseconds);
                }
                if (i > 0 && i % 500 == 0) progress?.Report(i);
            }
            return new OverheadResult(Latency.Of(ungated), Latency.Of(gated));
        }
        finally { TryDelete(folder); }
    }

    static void TryDelete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (IOException) { }
    }
}
