using System.Net;
using System.Text.Json.Nodes;
using FewShot.Access.Keys;
using FewShot.Access.Storage;

namespace FewShot.Gateway.Tests;

/// <summary>Money budgets under concurrency: reservations at the model's price keep the ledger within the budget, and it equals what the upstream reported.</summary>
[Collection(UpstreamCollection.Name)]
public sealed class BudgetTests(UpstreamFixture fixture)
{
    // "Hello" is 5 bytes, so 5 prompt tokens reserved (and 5 at the byte-level upstream); 8 completion tokens at most.
    // At $1 and $2 per 1k tokens, one request costs at most 5 * 1000 + 8 * 2000 = 21,000 micro-dollars.
    const long WorstCaseMicros = 21_000;
    const decimal BudgetFor20 = 20 * WorstCaseMicros / 1_000_000m;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TwoHundredConcurrentRequestsOnABudgetForTwentyNeverOverspendAndChargeWhatTheUpstreamReported(bool globalBalance)
    {
        await using var gateway = await GatewayServer.StartAsync(Requests.Merge(Requests.Upstream("priced", fixture.Upstream.ApiUrl, model: "paid"),
                new() { ["Serving:Upstreams:priced:Models:0:PromptPrice"] = "1", ["Serving:Upstreams:priced:Models:0:CompletionPrice"] = "2" }),
            access => { if (globalBalance) access.GlobalDailyBudgetUsd = BudgetFor20; });
        using var client = gateway.Client(await gateway.IssueAsync(globalBalance ? null : new KeyLimits(BudgetUsd: BudgetFor20)));
        client.Timeout = TimeSpan.FromSeconds(120);

        var responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(async _ =>
        {
            using var response = await client.PostAsync("v1/completions", Requests.Completion("paid", maxTokens: 8));
            return (response.StatusCode, Body: JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
        }));

        var admitted = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
        Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.OK), r =>
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
            Assert.Equal("insufficient_quota", r.Body["error"]!["code"]!.GetValue<string>());
        });
        Assert.InRange(admitted.Count, 20, 199);
        var reported = admitted.Select(r => (Prompt: r.Body["usage"]!["prompt_tokens"]!.GetValue<long>(), Completion: r.Body["usage"]!["completion_tokens"]!.GetValue<long>())).ToList();
        Assert.All(admitted, r => Assert.Null(r.Body["usage"]!["estimated"]));

        var ledger = (await Requests.LedgerAsync(gateway))["priced"];
        Assert.Equal(admitted.Count, ledger.Requests);
        Assert.Equal(reported.Sum(u => u.Prompt), ledger.PromptTokens);
        Assert.Equal(reported.Sum(u => u.Completion), ledger.CompletionTokens);
        Assert.Equal(reported.Sum(u => u.Prompt * 1000 + u.Completion * 2000), ledger.CostMicros);
        Assert.True(ledger.CostMicros <= 20 * WorstCaseMicros, $"ledger {ledger.CostMicros} micro-dollars exceeds the budget {20 * WorstCaseMicros}");
        var (used, reserved) = await gateway.Access.Budgets.GlobalMicrosTodayAsync(default);
        if (globalBalance) Assert.Equal((ledger.CostMicros, 0L), (used, reserved));
    }

    [Fact]
    public async Task AnUpstreamReportingMoreThanWasReservedIsChargedTheReservationAndLogged()
    {
        // fewshot serve wraps a chat in its few-shot template (hundreds of tokens); reserve none for it.
        await using var gateway = await GatewayServer.StartAsync(Requests.Merge(Requests.Upstream("small", fixture.Upstream.ApiUrl, model: "m"),
            new() { ["Serving:Upstreams:small:Models:0:TemplateTokens"] = "0" }));
        using var client = gateway.Client(await gateway.IssueAsync());
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("m", maxTokens: 4, text: "Hi"));
        var usage = (await Requests.ObjectAsync(response))["usage"]!;
        var reserved = 8 + 2 + 4; // one message: 8 + its 2 bytes, and max_tokens 4
        Assert.True(usage["prompt_tokens"]!.GetValue<int>() > reserved);
        var ledger = (await Requests.LedgerAsync(gateway))["small"];
        Assert.Equal(reserved, ledger.PromptTokens + ledger.CompletionTokens);
        Assert.Contains(gateway.Logs, line => line.Contains("raise the model's TemplateTokens", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AFreeModelIsReservedInTokensAgainstATokenBudget()
    {
        await using var gateway = await GatewayServer.StartAsync(Requests.Upstream("free", fixture.Upstream.ApiUrl, model: "free"));
        using var client = gateway.Client(await gateway.IssueAsync(new KeyLimits(BudgetTokens: 20)));
        using var first = await client.PostAsync("v1/completions", Requests.Completion("free", maxTokens: 8)); // reserves 5 + 8
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using var second = await client.PostAsync("v1/completions", Requests.Completion("free", maxTokens: 8)); // 13 more do not fit in 20
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        var ledger = (await Requests.LedgerAsync(gateway))["free"];
        Assert.Equal(0, ledger.CostMicros);
        Assert.InRange(ledger.PromptTokens + ledger.CompletionTokens, 6, 13);
    }
}
