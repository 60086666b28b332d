using System.Net;
using System.Text.Json.Nodes;
using FewShot.Benchmarks;
using FewShot.Access.Keys;
using Xunit.Abstractions;

namespace FewShot.Access.Tests;

public class BudgetTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TwoHundredConcurrentRequestsNeverSpendMoreThanAKeysBudget()
    {
        var race = await FirewallBenchmark.BudgetRaceAsync(global: false, requests: 200, completionsCovered: 20);
        output.WriteLine(race.ToString());
        Assert.True(race.ChargedTokens <= race.Budget, $"charged {race.ChargedTokens} > budget {race.Budget}");
        Assert.Equal(20, race.Admitted);
        Assert.Equal(180, race.InsufficientQuota);
        Assert.Equal(0, race.OtherStatus);
        Assert.Equal(race.Budget, race.ChargedTokens);
    }

    [Fact]
    public async Task TwoHundredConcurrentRequestsOnManyKeysNeverSpendMoreThanTheGlobalBalance()
    {
        var race = await FirewallBenchmark.BudgetRaceAsync(global: true, requests: 200, completionsCovered: 20);
        output.WriteLine(race.ToString());
        Assert.True(race.ChargedTokens <= race.Budget, $"charged {race.ChargedTokens} > balance {race.Budget}");
        Assert.Equal(20, race.Admitted);
        Assert.Equal(180, race.InsufficientQuota);
        Assert.Equal(0, race.OtherStatus);
    }

    [Fact]
    public async Task UnusedReservationIsReleasedAndQuotaShowsWhatIsLeft()
    {
        await using var server = await TestServer.StartAsync();
        using var client = server.Client(await server.IssueAsync(new KeyLimits(BudgetTokens: 100, Period: BudgetPeriod.Week)));
        // "hello there" = 2 prompt tokens; the simulated server generates all 16 -> 18 charged.
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("v1/chat/completions", TestServer.Chat(16))).StatusCode);
        var quota = JsonNode.Parse(await client.GetStringAsync("api/quota"))!.AsObject();
        Assert.Equal(82, quota["remaining_tokens"]!.GetValue<long>());
        Assert.Equal(100, quota["budget_tokens"]!.GetValue<long>());
        Assert.Equal("week", quota["period"]!.GetValue<string>());
        var resets = DateTimeOffset.Parse(quota["resets_at"]!.GetValue<string>());
        Assert.Equal(DayOfWeek.Monday, resets.UtcDateTime.DayOfWeek);
        Assert.True(resets > DateTimeOffset.UtcNow && resets <= DateTimeOffset.UtcNow.AddDays(7));

        // 82 left: a request that may cost 2 + 90 is refused with the reset time; one for 2 + 80 fits.
        var refused = await client.PostAsync("v1/chat/completions", TestServer.Chat(90));
        Assert.Equal((HttpStatusCode)429, refused.StatusCode);
        var error = await TestServer.ErrorAsync(refused);
        Assert.Equal("insufficient_quota", error["code"]!.GetValue<string>());
        Assert.Equal("insufficient_quota", error["type"]!.GetValue<string>());
        Assert.Contains("resets at", error["message"]!.GetValue<string>());
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("v1/chat/completions", TestServer.Chat(80))).StatusCode);
        Assert.Equal(100, await server.ChargedAsync());
    }

    [Fact]
    public async Task UsageSurvivesARestartOfTheServer()
    {
        var folder = Directory.CreateTempSubdirectory("fewshot-access-restart-").FullName;
        try
        {
            string key;
            void Options(AccessOptions o) { o.DatabasePath = Path.Combine(folder, "access.db"); o.OnAdminKeyCreated = _ => { }; }
            await using (var first = await SimulatedServer.StartAsync(Options, TimeSpan.Zero))
            {
                key = (await first.Access.Keys.IssueAsync(new KeySpec("r", null, [], [], new KeyLimits(BudgetTokens: 30)), "t")).Key;
                using var client = new HttpClient { BaseAddress = first.BaseAddress };
                client.DefaultRequestHeaders.Authorization = new("Bearer", key);
                Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("v1/chat/completions", TestServer.Chat(16))).StatusCode);
            }
            await using var second = await SimulatedServer.StartAsync(Options, TimeSpan.Zero);
            using var again = new HttpClient { BaseAddress = second.BaseAddress };
            again.DefaultRequestHeaders.Authorization = new("Bearer", key);
            Assert.Equal((HttpStatusCode)429, (await again.PostAsync("v1/chat/completions", TestServer.Chat(16))).StatusCode);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }
}
