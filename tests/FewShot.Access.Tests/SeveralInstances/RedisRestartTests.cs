using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using FewShot.Access.Keys;
using FewShot.Access.Tests.Servers;
using static FewShot.Access.Tests.SeveralInstances.SharedLimitsTests;

namespace FewShot.Access.Tests.SeveralInstances;

/// <summary>Redis restarted (without persistence) while three servers are under load and requests are running across it.</summary>
public sealed class RedisRestartTests(PostgresServer postgres, RedisServer redis) : IClassFixture<PostgresServer>, IClassFixture<RedisServer>
{
    // TestServer.Chat: a two-word prompt and max_tokens 16.
    const int PerRequest = 2 + 16;

    [Fact]
    public async Task RedisRestartedUnderLoadNeverOverspendsGivesClean503sAndRecoversWithoutARestart()
    {
        // Each request generates for 3 s, so the first ones run across the outage: Redis comes back without their
        // reservations, and only their renewals (and the warm-up that waits for them) stop the budget being spent twice.
        var servers = await StartThreeAsync(postgres, redis, o => o.LeaseTime = TimeSpan.FromSeconds(3), generationTime: TimeSpan.FromSeconds(3));
        try
        {
            var key = await servers[0].IssueAsync(new KeyLimits(BudgetTokens: 12 * PerRequest));
            var results = new ConcurrentBag<(TimeSpan Start, HttpStatusCode Status, string? Code)>();
            var clock = Stopwatch.StartNew();
            var restarted = TimeSpan.MaxValue;
            var load = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
            {
                while (clock.Elapsed < TimeSpan.FromSeconds(12))
                {
                    var start = clock.Elapsed;
                    using var response = await ChatAsync(servers[worker % 3], key);
                    var code = response.StatusCode == HttpStatusCode.OK ? null : (await TestServer.ErrorAsync(response))["code"]!.GetValue<string>();
                    results.Add((start, response.StatusCode, code));
                    if (response.StatusCode != HttpStatusCode.OK) await Task.Delay(100);
                }
            })).ToList();

            await Task.Delay(TimeSpan.FromSeconds(0.7));
            await redis.StopAsync();
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            await redis.StartAsync();
            restarted = clock.Elapsed;
            await Task.WhenAll(load);

            var admitted = results.Count(r => r.Status == HttpStatusCode.OK);
            var timeline = $"Redis back at {restarted.TotalSeconds:F1} s; " + string.Join(", ", results.OrderBy(r => r.Start)
                .Select(r => $"{r.Start.TotalSeconds:F1} {(int)r.Status}{(r.Code is null ? "" : " " + r.Code)}"));
            Assert.All(results, r => Assert.True(r.Status is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable or HttpStatusCode.TooManyRequests,
                $"{r.Status} {r.Code}"));
            Assert.Contains(results, r => r.Status == HttpStatusCode.ServiceUnavailable && r.Code == "service_unavailable");
            Assert.True(results.Any(r => r.Status == HttpStatusCode.OK && r.Start > restarted), timeline);  // admitting again, no restart of FewShot
            Assert.True(admitted <= 12, $"{admitted} admitted on a budget of 12: {timeline}");
            Assert.Equal(admitted * PerRequest, await LedgerAsync(servers));
        }
        finally
        {
            await DisposeAllAsync(servers);
            await redis.StartIfStoppedAsync();
        }
    }
}
