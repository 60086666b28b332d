using FewShot.Access;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using FewShot.Access.Keys;

namespace FewShot.Benchmarks;

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

/// <summary>
/// The same no-op chat request with and without the access checks: as the client sees it (loopback HTTP, so machine noise
/// included), and inside the server (pipeline entry to start of generation, plus settling the lease), where the checks live.
/// </summary>
public sealed record OverheadResult(Latency Ungated, Latency Gated, Latency ServerUngated, Latency ServerGated)
{
    public double P99OverheadMs => ServerGated.P99 - ServerUngated.P99;
    public double P50OverheadMs => ServerGated.P50 - ServerUngated.P50;
    public double ClientP99OverheadMs => Gated.P99 - Ungated.P99;
    public double ClientP50OverheadMs => Gated.P50 - Ungated.P50;
}

/// <summary>Everything `fewshot bench firewall` measures.</summary>
public sealed record FirewallReport(FloodResult Flood, BudgetRaceResult KeyBudget, BudgetRaceResult GlobalBalance, OverheadResult Overhead)
{
    /// <summary>The verdict of each must-show, with its numbers, one line each.</summary>
    public IEnumerable<(string Check, bool Passed, string Numbers)> Checks()
    {
        yield return ("lockout within threshold", Flood.FailuresBeforeLockout <= Flood.Threshold,
            $"{Flood.FailuresBeforeLockout} failures before lockout (threshold {Flood.Threshold}); {Flood.LockedOut} of {Flood.AttackRequests} refused as locked out");
        yield return ("flood generates nothing", Flood.AttackTokensGenerated == 0, $"{Flood.AttackTokensGenerated} tokens generated for the attacker");
        yield return ("legitimate p99 within 2x", Flood.LegitimateDuringFlood.P99 <= 2 * Flood.LegitimateAlone.P99,
            $"p99 {Flood.LegitimateDuringFlood.P99:F2} ms during vs {Flood.LegitimateAlone.P99:F2} ms alone (p50 {Flood.LegitimateDuringFlood.P50:F2} vs {Flood.LegitimateAlone.P50:F2})");
        foreach (var (name, race) in new[] { ("key budget holds", KeyBudget), ("global balance holds", GlobalBalance) })
            yield return (name, race.ChargedTokens <= race.Budget && race.OtherStatus == 0,
                $"{race.Requests} at once: {race.Admitted} admitted, {race.InsufficientQuota} insufficient_quota; charged {race.ChargedTokens} of {race.Budget}");
        yield return ("checks add <= 1 ms p99", Overhead.P99OverheadMs <= 1,
            $"server-side p99 +{Overhead.P99OverheadMs:F3} ms (p50 +{Overhead.P50OverheadMs:F3}); client-side p50 +{Overhead.ClientP50OverheadMs:F3} ms");
    }
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

    /// <summary>All simulations, one after another (about 15 s on two cores).</summary>
    public static async Task<FirewallReport> RunAsync(IProgress<string>? progress = null)
    {
        progress?.Report("flood: 10,000 random keys from one address");
        var flood = await FloodAsync();
        progress?.Report("budget race: 200 requests on one key");
        var key = await BudgetRaceAsync(global: false);
        progress?.Report("budget race: 200 requests on 200 keys under a global balance");
        var global = await BudgetRaceAsync(global: true);
        progress?.Report("overhead: gated vs ungated no-op requests");
        var overhead = await OverheadAsync();
        return new FirewallReport(flood, key, global, overhead);
    }

    internal static Action<AccessOptions> Options(string folder, Action<AccessOptions>? change = null) => options =>
    {
        options.DatabasePath = Path.Combine(folder, "access.db");
        options.TrustedProxies = ["127.0.0.1/32", "::1/128"];
        options.IpRequestsPerMinute = 1_000_000;
        options.MaxConcurrentGenerations = 1024;
        options.OnAdminKeyCreated = _ => { };
        change?.Invoke(options);
    };

    internal static HttpClient Client(Uri baseAddress, string? key, string ip)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, UseProxy = false }) { BaseAddress = baseAddress };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        client.DefaultRequestHeaders.Add("X-Forwarded-For", ip);
        return client;
    }

    internal static StringContent Chat(int maxTokens, string prompt = "say something short") => new(
        $$"""{"model":"fewshot","messages":[{"role":"user","content":"{{prompt}}"}],"max_tokens":{{maxTokens}}}""", Encoding.UTF8, "application/json");

    internal static string TempFolder() => Directory.CreateTempSubdirectory("fewshot-firewall-").FullName;

    /// <summary>
    /// The flood: 10,000 requests with random well-formed keys (valid checksums, so each one costs a hash and a database
    /// look-up until the lockout) from one address, <paramref name="attackPerSecond"/> a second with up to
    /// <paramref name="attackConcurrency"/> in flight, while four legitimate clients keep sending, one request at a time
    /// each. The flood comes in <paramref name="rounds"/> bursts with quiet spells of the same length between them in which
    /// the same clients' latency is measured alone, so noise from outside (other processes on the machine) falls on both
    /// measurements alike.
    /// </summary>
    public static async Task<FloodResult> FloodAsync(int attackRequests = 10_000, int attackConcurrency = 8, int rounds = 5,
        int attackPerSecond = 2_500, TimeSpan? generationTime = null, IProgress<int>? progress = null)
    {
        var folder = TempFolder();
        try
        {
            await using var server = await SimulatedServer.StartAsync(Options(folder), generationTime ?? TimeSpan.FromMilliseconds(5));
            var key = (await server.Access.Keys.IssueAsync(new KeySpec("legitimate", null, [], [], KeyLimits.None), "bench")).Key;
            using var legit = Client(server.BaseAddress, key, Legitimate);
            using var attack = Client(server.BaseAddress, null, Attacker);
            for (var i = 0; i < 50; i++) (await legit.PostAsync("v1/chat/completions", Chat(4))).Dispose();  // warm-up

            // The attacker's keys and body are made up front: that work belongs to the attacker's machine, not to our two cores.
            var attackKeys = Enumerable.Range(0, attackRequests).Select(_ => new AuthenticationHeaderValue("Bearer", KeyFormat.Generate(KeyKind.Personal))).ToArray();
            var attackBody = Encoding.UTF8.GetBytes(Chat(16).ReadAsStringAsync().Result);
            var alone = new List<double>();
            var during = new List<double>();
            var legitimateFailures = 0;
            int unauthorized = 0, locked = 0, other = 0, sent = -1, firstLockout = -1;
            var tokensBefore = server.TokensGenerated;
            long legitimateTokens = 0;
            var floodTime = Stopwatch.StartNew();
            floodTime.Stop();
            for (var round = 0; round < rounds; round++)
            {
                // As long as a paced burst lasts, so that both measurements are equally exposed to outside noise.
                var quietFor = TimeSpan.FromSeconds(attackRequests / rounds / (double)attackPerSecond);
                var quietClock = Stopwatch.StartNew();
                var quiet = await LegitimateLoopAsync(legit, alone, int.MaxValue, () => quietClock.Elapsed >= quietFor);
                legitimateFailures += quiet.Failures;
                legitimateTokens += 4L * (quiet.Count - quiet.Failures);

                var done = false;
                var burstEnd = (round + 1) * attackRequests / rounds;
                var burstStart = Volatile.Read(ref sent) + 1;
                var clock = Stopwatch.StartNew();
                floodTime.Start();
                var legitimateTask = LegitimateLoopAsync(legit, during, int.MaxValue, () => Volatile.Read(ref done));
                // Parallel.ForAsync runs only as many bodies at once as there are cores unless told otherwise.
                await Parallel.ForAsync(0, attackConcurrency, new ParallelOptions { MaxDegreeOfParallelism = attackConcurrency }, async (_, cancel) =>
                {
                    while (true)
                    {
                        var n = Interlocked.Increment(ref sent);
                        if (n >= burstEnd) { Interlocked.Decrement(ref sent); return; }
                        // Paced: request n leaves at its slot, so the attacker's own client (on our two cores) does not
                        // take the CPU a real attacker's machine would spend.
                        var due = TimeSpan.FromSeconds((n - burstStart) / (double)attackPerSecond) - clock.Elapsed;
                        if (due > TimeSpan.FromMilliseconds(1)) await Task.Delay(due, cancel);
                        using var content = new ByteArrayContent(attackBody);
                        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = content };
                        request.Headers.Authorization = attackKeys[n];
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
                Volatile.Write(ref done, true);
                var busy = await legitimateTask;
                floodTime.Stop();
                legitimateFailures += busy.Failures;
                legitimateTokens += 4L * (busy.Count - busy.Failures);
            }
            // Whatever was generated beyond the legitimate client's 4 tokens per request went to the attacker.
            var attackTokens = server.TokensGenerated - tokensBefore - legitimateTokens;
            return new FloodResult(attackRequests, unauthorized, locked, other, firstLockout < 0 ? unauthorized : firstLockout,
                server.Access.Options.LockoutThreshold, attackTokens, Latency.Of(alone), Latency.Of(during), legitimateFailures,
                floodTime.Elapsed.TotalSeconds);
        }
        finally { TryDelete(folder); }
    }

    /// <summary>
    /// Legitimate clients, each on a thread of its own with blocking calls: in life they are other machines, and here they
    /// must not queue behind the attacker's client on the shared thread pool, or that would be what we measure. Several
    /// clients give the p99 enough samples to be more than the two slowest requests.
    /// </summary>
    static async Task<(int Count, int Failures)> LegitimateLoopAsync(HttpClient client, List<double> times, int countPerClient, Func<bool> stop)
    {
        var clients = Enumerable.Range(0, LegitimateClients).Select(_ =>
        {
            var done = new TaskCompletionSource<(List<double>, int)>(TaskCreationOptions.RunContinuationsAsynchronously);
            new Thread(() =>
            {
                try
                {
                    var mine = new List<double>();
                    var failures = 0;
                    for (var i = 0; i < countPerClient && !stop(); i++)
                    {
                        var watch = Stopwatch.StartNew();
                        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Chat(4) };
                        using var response = client.Send(request);
                        response.Content.ReadAsStream().CopyTo(Stream.Null);
                        mine.Add(watch.Elapsed.TotalMilliseconds);
                        if (!response.IsSuccessStatusCode) failures++;
                    }
                    done.SetResult((mine, failures));
                }
                catch (Exception e) { done.SetException(e); }
            }) { IsBackground = true, Name = "legitimate client" }.Start();
            return done.Task;
        }).ToList();
        var results = await Task.WhenAll(clients);
        foreach (var (mine, _) in results) times.AddRange(mine);
        return (results.Sum(r => r.Item1.Count), results.Sum(r => r.Item2));
    }

    const int LegitimateClients = 4;

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
    /// <param name="change">Settings of the server, e.g. a shared store and limits (<see cref="SharedFirewallBenchmark"/>).</param>
    public static async Task<OverheadResult> OverheadAsync(int requests = 3000, IProgress<int>? progress = null, Action<AccessOptions>? change = null)
    {
        var folder = TempFolder();
        try
        {
            await using var server = await SimulatedServer.StartAsync(Options(folder, change), TimeSpan.Zero);
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
                if (i == -1) server.TakeAdmissionTimes();  // drop the warm-up
                if (i > 0 && i % 500 == 0) progress?.Report(i);
            }
            var (serverGated, serverUngated) = server.TakeAdmissionTimes();
            return new OverheadResult(Latency.Of(ungated), Latency.Of(gated), Latency.Of([.. serverUngated]), Latency.Of([.. serverGated]));
        }
        finally { TryDelete(folder); }
    }

    internal static void TryDelete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (IOException) { }
    }
}
