using System.Net;
using FewShot.Access.Keys;
using FewShot.Access.Limits;
using FewShot.Access.Storage;
using FewShot.Access.Tests.Servers;

namespace FewShot.Access.Tests.SeveralInstances;

/// <summary>
/// Three servers on one private PostgreSQL and one private Redis (--limits redis://): budgets, the balance and per-key
/// rates hold in total, not per instance; leases of a request that never settles come back; Redis away means 503.
/// </summary>
public sealed class SharedLimitsTests(PostgresServer postgres, RedisServer redis) : IClassFixture<PostgresServer>, IClassFixture<RedisServer>
{
    // TestServer.Chat: a two-word prompt and max_tokens 16, so each request reserves and (simulated) uses 18 tokens.
    const int PerRequest = 2 + 16;
    static int nextDatabase;

    /// <summary>Redis databases 1..12 in turn (a class's tests run one after another on its own Redis); 13 and 14 are fixed by other tests.</summary>
    static int NextDatabase() => Interlocked.Increment(ref nextDatabase) % 12 + 1;

    /// <summary>Three servers on a fresh PostgreSQL database and a Redis database of their own (so tests do not share accounts).</summary>
    internal static Task<TestServer[]> StartThreeAsync(PostgresServer postgres, RedisServer redis, Action<AccessOptions>? change = null,
        TimeSpan? generationTime = null) => new SharedLimitsTests(postgres, redis).StartThreeAsync(change, generationTime);

    async Task<TestServer[]> StartThreeAsync(Action<AccessOptions>? change = null, TimeSpan? generationTime = null)
    {
        var store = await postgres.NewDatabaseAsync();
        var limits = $"{redis.Url}/{NextDatabase()}";
        var servers = new TestServer[3];
        for (var i = 0; i < servers.Length; i++)
            servers[i] = await TestServer.StartAsync(o =>
            {
                o.Store = store;
                o.Limits = limits;
                o.IpRequestsPerMinute = 10_000;
                o.MaxConcurrentGenerations = 1000;
                change?.Invoke(o);
            }, generationTime);
        return servers;
    }

    internal static async Task DisposeAllAsync(TestServer[] servers)
    {
        foreach (var server in servers) await server.DisposeAsync();
    }

    internal static async Task<HttpResponseMessage> ChatAsync(TestServer server, string key, string? from = null)
    {
        using var client = server.Client(key, from);
        return await client.PostAsync("v1/chat/completions", TestServer.Chat());
    }

    static async Task<HttpStatusCode[]> SpreadAsync(TestServer[] servers, string key, int count) =>
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            using var response = await ChatAsync(servers[i % servers.Length], key);
            return response.StatusCode;
        }));

    internal static async Task<long> LedgerAsync(TestServer[] servers)
    {
        foreach (var server in servers) await server.Server.Access.Budgets.FlushAsync();
        return await servers[0].Server.Access.Store.SumUsageAsync(null, DateTimeOffset.UnixEpoch);
    }

    [Fact]
    public async Task ThreeHundredRequestsOverThreeInstancesOnAKeyBudgetedForTwentyAdmitExactlyTwenty()
    {
        var servers = await StartThreeAsync();
        try
        {
            var key = await servers[0].IssueAsync(new KeyLimits(BudgetTokens: 20 * PerRequest));
            var statuses = await SpreadAsync(servers, key, 300);
            Assert.Equal(20, statuses.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(280, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
            Assert.Equal(20 * PerRequest, await LedgerAsync(servers));
        }
        finally { await DisposeAllAsync(servers); }
    }

    [Fact]
    public async Task TheGlobalBalanceHoldsInTotalAcrossThreeInstances()
    {
        var servers = await StartThreeAsync(o => o.GlobalDailyBudgetTokens = 20 * PerRequest);
        try
        {
            var keys = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => servers[1].IssueAsync()));
            var statuses = await Task.WhenAll(Enumerable.Range(0, 300).Select(async i =>
            {
                using var response = await ChatAsync(servers[i % 3], keys[i % keys.Length]);
                return response.StatusCode;
            }));
            Assert.Equal(20, statuses.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(20 * PerRequest, await LedgerAsync(servers));
        }
        finally { await DisposeAllAsync(servers); }
    }

    [Fact]
    public async Task ASixtyPerMinuteKeyGetsSixtyInTotalNotOneHundredEighty()
    {
        // Windows are whole minutes of Redis's clock (this machine's): start well inside one.
        var second = DateTimeOffset.UtcNow.Second;
        if (second > 45) await Task.Delay(TimeSpan.FromSeconds(61 - second));
        var servers = await StartThreeAsync();
        try
        {
            var key = await servers[2].IssueAsync(new KeyLimits(RequestsPerMinute: 60));
            var statuses = await SpreadAsync(servers, key, 120);
            Assert.Equal(60, statuses.Count(s => s == HttpStatusCode.OK));
            using var refused = await ChatAsync(servers[0], key);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.True(refused.Headers.RetryAfter is not null);
        }
        finally { await DisposeAllAsync(servers); }
    }

    [Fact]
    public async Task AReservationThatIsNeverSettledExpiresAndSettlingTwiceChargesOnce()
    {
        var folder = Directory.CreateTempSubdirectory("fewshot-lease-").FullName;
        try
        {
            var store = new SqliteAccessStore(Path.Combine(folder, "a.db"));
            var location = LimitsLocation.Parse($"{redis.Url}/{NextDatabase()}");
            await using var admission = RedisAdmission.Connect(location, store, new AccessOptions { LeaseTime = TimeSpan.FromSeconds(1) }, null);
            var key = new KeyRecord("key_lease", KeyKind.Personal, "l", [1], "h", DateTimeOffset.UtcNow, null, null, [], [], new KeyLimits(BudgetTokens: 100));

            var (dead, _) = await admission.TryAdmitAsync(key, 100, 0);   // an instance that dies holding this
            Assert.NotNull(dead);
            var (_, refused) = await admission.TryAdmitAsync(key, 1, 0);
            Assert.Equal("key_tokens", refused!.Kind);
            await Task.Delay(TimeSpan.FromSeconds(1.5));

            var (live, _) = await admission.TryAdmitAsync(key, 60, 0);
            Assert.NotNull(live);
            Assert.True(await admission.SettleAsync(live, 50, 0));
            Assert.False(await admission.SettleAsync(live, 50, 0));
            Assert.Equal(50, await admission.RemainingAsync(key));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task WithRedisAwayRequestsGet503WithRetryAfterAndServiceReturnsWithIt()
    {
        // A short lease: Redis comes back empty, and admissions wait a third of it (and a second) for running requests.
        var servers = await StartThreeAsync(o => o.LeaseTime = TimeSpan.FromSeconds(3));
        try
        {
            var key = await servers[0].IssueAsync(new KeyLimits(BudgetTokens: 100 * PerRequest));
            using (var ok = await ChatAsync(servers[1], key)) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

            await redis.StopAsync();
            using (var away = await ChatAsync(servers[1], key))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, away.StatusCode);
                Assert.True(away.Headers.RetryAfter is not null);
                Assert.Equal("service_unavailable", (await TestServer.ErrorAsync(away))["code"]!.GetValue<string>());
            }

            await redis.StartAsync();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            HttpStatusCode status;
            do
            {
                await Task.Delay(200);
                using var again = await ChatAsync(servers[1], key);
                status = again.StatusCode;
            } while (status != HttpStatusCode.OK && DateTime.UtcNow < deadline);
            Assert.Equal(HttpStatusCode.OK, status);
        }
        finally
        {
            await DisposeAllAsync(servers);
            await redis.StartIfStoppedAsync();
        }
    }
}
