using System.Net;
using FewShot.Access.Tests.Servers;
using FewShot.Benchmarks;
using StackExchange.Redis;
using static FewShot.Access.Tests.SeveralInstances.SharedLimitsTests;

namespace FewShot.Access.Tests.SeveralInstances;

/// <summary>
/// The firewall's state shared through Redis by three servers on one PostgreSQL: a lockout started on one holds on all of
/// them, and per-address requests per minute and the concurrency cap count in total, not per instance.
/// </summary>
public sealed class SharedFirewallTests(PostgresServer postgres, RedisServer redis) : IClassFixture<PostgresServer>, IClassFixture<RedisServer>
{
    const string Attacker = "203.0.113.66";
    const string Bystander = "198.51.100.7";

    [Fact]
    public async Task AFloodOfRandomKeysSpreadOverThreeInstancesLocksTheSourceOutOnAllOfThem()
    {
        var servers = await StartThreeAsync(postgres, redis, o => o.LockoutThreshold = 10);
        try
        {
            var key = await servers[0].IssueAsync();
            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < 60; i++)
            {
                using var guess = await ChatAsync(servers[i % 3], "fsk-" + Guid.NewGuid().ToString("N"), Attacker);
                statuses.Add(guess.StatusCode);
            }
            // Ten failures in total (not ten per instance) start the lockout; every later guess is refused before any key check.
            Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.Unauthorized));
            Assert.All(statuses.Skip(10), s => Assert.Equal(HttpStatusCode.Forbidden, s));

            foreach (var server in servers)
            {
                using (var locked = await ChatAsync(server, key, Attacker))
                {
                    Assert.Equal(HttpStatusCode.Forbidden, locked.StatusCode);
                    Assert.Equal("ip_locked_out", (await TestServer.ErrorAsync(locked))["code"]!.GetValue<string>());
                    Assert.True(locked.Headers.RetryAfter?.Delta > TimeSpan.FromSeconds(30));
                }
                using var other = await ChatAsync(server, key, Bystander);
                Assert.Equal(HttpStatusCode.OK, other.StatusCode);
            }
            var audit = await servers[1].Server.Access.Store.ReadAuditAsync(DateTimeOffset.UnixEpoch, 1000);
            Assert.Single(audit, e => e.Event == "ip_locked_out" && e.ClientIp == Attacker);
            Assert.Equal(3 * 16, servers.Sum(s => s.Server.TokensGenerated));  // only the bystander's three requests generated
        }
        finally { await DisposeAllAsync(servers); }
    }

    [Fact]
    public async Task APerAddressLimitHoldsInTotalAcrossThreeInstances()
    {
        // Windows are whole minutes of Redis's clock: start well inside one.
        var second = DateTimeOffset.UtcNow.Second;
        if (second > 45) await Task.Delay(TimeSpan.FromSeconds(61 - second));
        var servers = await StartThreeAsync(postgres, redis, o => o.IpRequestsPerMinute = 30);
        try
        {
            var key = await servers[0].IssueAsync();
            var statuses = await Task.WhenAll(Enumerable.Range(0, 90).Select(async i =>
            {
                using var response = await ChatAsync(servers[i % 3], key, Attacker);
                return response.StatusCode;
            }));
            Assert.Equal(30, statuses.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(60, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
            using (var refused = await ChatAsync(servers[2], key, Attacker))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
                Assert.True(refused.Headers.RetryAfter is not null);
                Assert.Contains("30 per minute", (await TestServer.ErrorAsync(refused))["message"]!.GetValue<string>());
            }
            using var other = await ChatAsync(servers[2], key, Bystander);
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }
        finally { await DisposeAllAsync(servers); }
    }

    [Fact]
    public async Task TheConcurrencyCapHoldsInTotalAcrossThreeInstances()
    {
        var servers = await StartThreeAsync(postgres, redis, o => o.MaxConcurrentGenerations = 3, generationTime: TimeSpan.FromSeconds(4));
        try
        {
            var key = await servers[0].IssueAsync();
            var statuses = await Task.WhenAll(Enumerable.Range(0, 9).Select(async i =>
            {
                using var response = await ChatAsync(servers[i % 3], key);
                return response.StatusCode;
            }));
            Assert.Equal(3, statuses.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(6, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
            // The slots came back with the settlements.
            using var again = await ChatAsync(servers[1], key);
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }
        finally { await DisposeAllAsync(servers); }
    }

    [Fact]
    public async Task AGenerationIsAdmittedWithItsAddressInOneScriptAndSettledInAnother()
    {
        var servers = await StartThreeAsync(postgres, redis);
        try
        {
            var key = await servers[0].IssueAsync();  // no budget and no global balance: no account to start from the ledger
            using var direct = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},allowAdmin=true");
            var server = direct.GetServer(direct.GetEndPoints()[0]);
            await server.ExecuteAsync("CONFIG", "RESETSTAT");
            const int requests = 30;
            for (var i = 0; i < requests; i++)
            {
                using var response = await ChatAsync(servers[i % 3], key, Bystander);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
            // Settlements run behind the responses: wait until they are all made.
            var scripts = 0L;
            for (var wait = 0; wait < 50 && (scripts = await ScriptCallsAsync(server)) < 2 * requests; wait++) await Task.Delay(100);
            await Task.Delay(300);
            Assert.Equal(2 * requests, await ScriptCallsAsync(server));
        }
        finally { await DisposeAllAsync(servers); }
    }

    /// <summary>EVAL and EVALSHA calls since the statistics were reset.</summary>
    static async Task<long> ScriptCallsAsync(IServer server)
    {
        var info = (await server.InfoAsync("commandstats")).SelectMany(g => g);
        return info.Where(p => p.Key is "cmdstat_eval" or "cmdstat_evalsha")
            .Sum(p => long.Parse(p.Value.Split(',')[0]["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task ALockoutStartedOnOneInstanceRefusesAValidKeyInItsAdmissionOnAnother()
    {
        var servers = await StartThreeAsync(postgres, redis, o => o.LockoutThreshold = 3);
        try
        {
            var key = await servers[0].IssueAsync();
            for (var i = 0; i < 3; i++)
            {
                using var guess = await ChatAsync(servers[0], "fsk-" + Guid.NewGuid().ToString("N"), Attacker);
                Assert.Equal(HttpStatusCode.Unauthorized, guess.StatusCode);
            }
            // Server 1 has seen nothing from the attacker: its admission script finds the lockout.
            using (var locked = await ChatAsync(servers[1], key, Attacker))
            {
                Assert.Equal(HttpStatusCode.Forbidden, locked.StatusCode);
                Assert.Equal("ip_locked_out", (await TestServer.ErrorAsync(locked))["code"]!.GetValue<string>());
                Assert.True(locked.Headers.RetryAfter?.Delta > TimeSpan.FromSeconds(30));
            }
            // Now known there: refused before any key is looked at (without one, it would be a 401).
            using (var client = servers[1].Client(forwardedFor: Attacker))
            using (var keyless = await client.PostAsync("v1/chat/completions", TestServer.Chat()))
                Assert.Equal(HttpStatusCode.Forbidden, keyless.StatusCode);
            Assert.Equal(2, servers[1].Server.Access.Metrics.RejectionCount("ip_locked_out"));
            Assert.Equal(0, servers.Sum(s => s.Server.TokensGenerated));
        }
        finally { await DisposeAllAsync(servers); }
    }

    [Fact]
    public async Task GenerationsRefusedBeforeTheirAdmissionCountTowardsTheAddressRateAndAnAddressOverItIsRefusedBeforeItsBodyIsRead()
    {
        var second = DateTimeOffset.UtcNow.Second;
        if (second > 45) await Task.Delay(TimeSpan.FromSeconds(61 - second));
        var servers = await StartThreeAsync(postgres, redis, o => o.IpRequestsPerMinute = 6);
        try
        {
            var key = await servers[0].IssueAsync();
            for (var i = 0; i < 6; i++)
            {
                using var client = servers[i % 3].Client(key, Attacker);
                using var malformed = await client.PostAsync("v1/chat/completions", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
            }
            using (var refused = await ChatAsync(servers[0], key, Attacker))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
                Assert.Contains("6 per minute", (await TestServer.ErrorAsync(refused))["message"]!.GetValue<string>());
            }
            // Server 0 now knows: a malformed body is refused for the rate, not read (it would be a 400).
            using (var client = servers[0].Client(key, Attacker))
            using (var unread = await client.PostAsync("v1/chat/completions", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json")))
                Assert.Equal(HttpStatusCode.TooManyRequests, unread.StatusCode);
            using var other = await ChatAsync(servers[0], key, Bystander);
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
            Assert.Equal(16, servers.Sum(s => s.Server.TokensGenerated));
        }
        finally { await DisposeAllAsync(servers); }
    }

    /// <summary>`fewshot bench firewall --store postgres://... --limits redis://...`, small: it measures what it says, the ceiling with access control off too, and refuses nothing.</summary>
    [Fact]
    public async Task TheSharedBenchmarkMeasuresAdmissionOverheadAndAdmissionsPerSecondOverThreeInstances()
    {
        var report = await SharedFirewallBenchmark.RunAsync(await postgres.NewDatabaseAsync(), $"{redis.Url}/13", overheadRequests: 100,
            duration: TimeSpan.FromSeconds(1), concurrency: 8);
        Assert.Equal(100, report.Overhead.ServerGated.Count);
        Assert.Equal(100, report.Overhead.ServerUngated.Count);
        Assert.True(report.Overhead.ServerGated.P50 > report.Overhead.ServerUngated.P50, "the checks cost something");
        Assert.Equal(3, report.Instances);
        Assert.True(report.Gated.Succeeded > 0);
        Assert.Equal(0, report.Gated.Failed);
        Assert.InRange(report.AdmissionsPerSecond, 1, 1_000_000);
        Assert.Equal(0, report.Ungated.Failed);
        Assert.InRange(report.UngatedPerSecond, 1, 1_000_000);
        Assert.Equal(2, report.Checks().Count());
    }
}
