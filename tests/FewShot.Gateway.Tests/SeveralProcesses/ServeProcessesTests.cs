using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using FewShot.Access;
using FewShot.Access.Budgets;
using FewShot.Access.Keys;
using FewShot.Access.Limits;
using FewShot.Access.Storage;
using FewShot.Access.Tests.Servers;

namespace FewShot.Gateway.Tests.SeveralProcesses;

/// <summary>
/// Three real `fewshot serve` processes on one private PostgreSQL and one private Redis, as behind a load balancer,
/// fronting one upstream (through a fault proxy): lockouts and per-address limits hold on all of them, and an instance
/// killed with SIGKILL in the middle of a stream gives its reservation back within its lease and loses no ledger row.
/// </summary>
[Collection(UpstreamCollection.Name)]
public sealed class ServeProcessesTests(UpstreamFixture fixture, PostgresServer postgres, RedisServer redis)
    : IClassFixture<PostgresServer>, IClassFixture<RedisServer>, IAsyncLifetime
{
    static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(3);
    static int nextDatabase;
    readonly List<UpstreamProcess> instances = [];
    readonly List<TempFolder> folders = [];
    FaultProxy proxy = null!;
    string store = "", limits = "";

    public async Task InitializeAsync()
    {
        proxy = new FaultProxy(fixture.Upstream.BaseUrl);
        store = await postgres.NewDatabaseAsync();
        limits = $"{redis.Url}/{Interlocked.Increment(ref nextDatabase)}";
        var settings = new Dictionary<string, string>
        {
            ["Access:Store"] = store,
            ["Access:Limits"] = limits,
            ["Access:LeaseTime"] = LeaseTime.ToString(),
            ["Access:TrustedProxies:0"] = "127.0.0.1/32",
            ["Access:IpRequestsPerMinute"] = "30",
            ["Access:LockoutThreshold"] = "10",
        };
        foreach (var (name, value) in Requests.Upstream("up", proxy.BaseUrl, model: "m", extraKey: "Models:0:MaxTokens", extraValue: "4000"))
            settings[name] = value!;
        // The first migrates the schema; the other two start together and find it done.
        instances.Add(await StartAsync(settings));
        instances.AddRange(await Task.WhenAll(StartAsync(settings), StartAsync(settings)));
    }

    Task<UpstreamProcess> StartAsync(Dictionary<string, string> settings)
    {
        var folder = new TempFolder();  // the process's: removed when it is
        lock (folders) folders.Add(folder);
        return UpstreamProcess.ServeAsync(folder, new Dictionary<string, string>(settings)
        {
            ["Access:DatabasePath"] = folder.File("access.db"),
            ["Access:Outbox"] = folder.File("outbox.db"),
        }, []);
    }

    public async Task DisposeAsync()
    {
        foreach (var instance in instances) await instance.DisposeAsync();
        await proxy.DisposeAsync();
    }

    static HttpClient Client(UpstreamProcess instance, string key, string? from = null)
    {
        var client = new HttpClient { BaseAddress = instance.BaseUrl, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (from is not null) client.DefaultRequestHeaders.Add("X-Forwarded-For", from);
        return client;
    }

    async Task<IssuedKey> IssueAsync(KeyLimits limits) =>
        await new KeyService(StoreLocation.Parse(store).Open(), TimeProvider.System).IssueAsync(new KeySpec("test", null, [], [], limits), "test");

    [Fact]
    public async Task AFloodOfRandomKeysLocksTheSourceOutOnEveryProcessAndPerAddressRpmHoldsInTotal()
    {
        var key = (await IssueAsync(KeyLimits.None)).Key;
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 45; i++)
        {
            using var guess = Client(instances[i % 3], "fsk-" + Guid.NewGuid().ToString("N"), "203.0.113.66");
            using var response = await guess.GetAsync("v1/models");
            statuses.Add(response.StatusCode);
        }
        Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.All(statuses.Skip(10), s => Assert.Equal(HttpStatusCode.Forbidden, s));
        foreach (var instance in instances)
        {
            using var attacker = Client(instance, key, "203.0.113.66");
            using (var locked = await attacker.GetAsync("v1/models")) Assert.Equal(HttpStatusCode.Forbidden, locked.StatusCode);
            using var bystander = Client(instance, key, "198.51.100.7");
            using var ok = await bystander.GetAsync("v1/models");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        // 30 requests per minute per address, counted in Redis's minute: start well inside one.
        var second = DateTimeOffset.UtcNow.Second;
        if (second > 45) await Task.Delay(TimeSpan.FromSeconds(61 - second));
        var spread = await Task.WhenAll(Enumerable.Range(0, 90).Select(async i =>
        {
            using var client = Client(instances[i % 3], key, "192.0.2.10");
            using var response = await client.GetAsync("v1/models");
            return response.StatusCode;
        }));
        Assert.Equal(30, spread.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(60, spread.Count(s => s == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task AProcessKilledMidStreamGivesItsReservationBackWithinItsLeaseAndNoLedgerRowIsLostOrDoubled()
    {
        var issued = await IssueAsync(new KeyLimits(BudgetTokens: 200_000));
        for (var i = 0; i < 6; i++)
        {
            using var client = Client(instances[i % 3], issued.Key);
            using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("m", maxTokens: 4));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var ledger = StoreLocation.Parse(store).Open();
        await using var admission = RedisAdmission.Connect(LimitsLocation.Parse(limits), ledger, new AccessOptions { LeaseTime = LeaseTime }, null);
        var record = (await ledger.GetKeyAsync(issued.Record.Id))!;
        var before = await SettledRemainingAsync(admission, record);

        proxy.Set(Fault.Endless);
        using var streaming = Client(instances[0], issued.Key);
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Requests.Chat("m", maxTokens: 3000, stream: true) };
        using var stream = await streaming.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        for (var events = 0; events < 3;)
            if ((await reader.ReadLineAsync())!.StartsWith("data: ", StringComparison.Ordinal)) events++;
        Assert.True(await admission.RemainingAsync(record) <= before - 3000, "the stream holds its worst case");

        await instances[0].KillAsync();
        var killed = Stopwatch.StartNew();
        long? remaining;
        do
        {
            // Any admission on the account releases expired leases, as the next request on any instance would.
            var (probe, _) = await admission.TryAdmitAsync(record, 1, 0);
            await admission.SettleAsync(probe!, 0, 0);
            remaining = await admission.RemainingAsync(record);
            if (remaining != before) await Task.Delay(100);
        } while (remaining != before && killed.Elapsed < TimeSpan.FromSeconds(20));
        Assert.Equal(before, remaining);
        Assert.True(killed.Elapsed < LeaseTime + TimeSpan.FromSeconds(3), $"the reservation came back {killed.Elapsed} after the kill");

        // The six settled requests are in the ledger once each: shipped by their instances, or still in the dead one's
        // outbox, which a restarted instance copies (here: the outbox opened on its own, as at a restart).
        await using (var restarted = new BudgetLedger(ledger, TimeProvider.System, null, outboxPath: Path.Combine(folders[0].Path, "outbox.db")))
            await restarted.FlushAsync();
        var usage = Assert.Single(await ledger.UsageByKeyAsync(record.Id, DateTimeOffset.UnixEpoch));
        Assert.Equal(6, usage.Requests);

        // Nothing to reconcile: Redis's counters agree with the ledger.
        var reconcile = await UsageCommandTests.RunJsonAsync(["usage", "--reconcile", "--db", store, "--limits", limits, "--json"]);
        var account = reconcile.GetProperty("data").EnumerateArray().Single(a => a.GetProperty("key").GetString() == record.Id);
        Assert.False(account.GetProperty("changed").GetBoolean(), account.ToString());
        Assert.Equal(usage.PromptTokens + usage.CompletionTokens, account.GetProperty("used_after").GetInt64());
    }

    /// <summary>The key's remaining budget once nothing is in flight (read until two readings agree).</summary>
    static async Task<long> SettledRemainingAsync(RedisAdmission admission, KeyRecord key)
    {
        var last = await admission.RemainingAsync(key);
        while (true)
        {
            await Task.Delay(300);
            var now = await admission.RemainingAsync(key);
            if (now == last) return now!.Value;
            last = now;
        }
    }
}
