using System.Net;
using System.Text.Json.Nodes;

namespace FewShot.Gateway.Tests;

/// <summary>The circuit breaker and the health check, with one upstream behind a fault-injecting proxy.</summary>
[Collection(UpstreamCollection.Name)]
public sealed class BreakerTests(UpstreamFixture fixture)
{
    [Fact]
    public async Task TheBreakerOpensAfterFailuresKeepsRequestsAwayThenClosesWhenTheUpstreamRecovers()
    {
        await using var proxy = new FaultProxy(fixture.Upstream.BaseUrl);
        await using var gateway = await GatewayServer.StartAsync(Requests.Merge(Requests.Upstream("only", proxy.BaseUrl, model: "m"),
            new() { ["Serving:Upstreams:only:BreakerFailures"] = "2", ["Serving:Upstreams:only:BreakerOpenSeconds"] = "1" }));
        using var client = gateway.Client(await gateway.IssueAsync());
        proxy.Set(Fault.Status503);
        for (var i = 0; i < 2; i++)
        {
            using var failed = await client.PostAsync("v1/chat/completions", Requests.Chat("m"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        }
        Assert.Equal(2, proxy.Requests);
        Assert.Contains("fewshot_upstream_breaker_state{upstream=\"only\"} 1", await client.GetStringAsync("metrics"));

        using (var kept = await client.PostAsync("v1/chat/completions", Requests.Chat("m")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, kept.StatusCode);
            Assert.Equal("model_unavailable", (await Requests.ObjectAsync(kept))["error"]!["code"]!.GetValue<string>());
            Assert.NotNull(kept.Headers.RetryAfter);
        }
        Assert.Equal(2, proxy.Requests); // the open breaker kept it from the upstream

        proxy.Set(Fault.None);
        await Task.Delay(1200);
        using (var recovered = await client.PostAsync("v1/chat/completions", Requests.Chat("m")))
            Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
        Assert.Contains("fewshot_upstream_breaker_state{upstream=\"only\"} 0", await client.GetStringAsync("metrics"));
    }

    [Fact]
    public async Task AnUpstreamDownAtStartLeavesTheServerUpDegradedWith503AndRetryAfter()
    {
        var closedPort = UpstreamProcess.FreePort();
        await using var gateway = await GatewayServer.StartAsync(Requests.Upstream("down", new Uri($"http://127.0.0.1:{closedPort}/v1"), model: "m"));
        using var client = gateway.Client(await gateway.IssueAsync());
        var health = JsonNode.Parse(await client.GetStringAsync("healthz"))!;
        Assert.Equal("degraded", health["status"]!.GetValue<string>());
        Assert.Equal("down", health["upstreams"]!["down"]!.GetValue<string>());
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("m"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        using var local = await client.PostAsync("v1/completions", Requests.Completion(GatewayServer.LocalModel, maxTokens: 2));
        Assert.Equal(HttpStatusCode.OK, local.StatusCode);
    }

    [Fact]
    public async Task A429FromTheOnlyUpstreamKeepsItsStatusAndRetryAfter()
    {
        await using var proxy = new FaultProxy(fixture.Upstream.BaseUrl);
        await using var gateway = await GatewayServer.StartAsync(Requests.Upstream("only", proxy.BaseUrl, model: "m"));
        using var client = gateway.Client(await gateway.IssueAsync());
        proxy.Set(Fault.Status429);
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("m"));
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
        Assert.Equal("rate_limit_exceeded", (await Requests.ObjectAsync(response))["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task AStallBeforeTheFirstByteFromTheOnlyUpstreamIs504()
    {
        await using var proxy = new FaultProxy(fixture.Upstream.BaseUrl);
        await using var gateway = await GatewayServer.StartAsync(Requests.Upstream("only", proxy.BaseUrl, model: "m", extraKey: "FirstByteTimeoutSeconds", extraValue: "0.5"));
        using var client = gateway.Client(await gateway.IssueAsync());
        proxy.Set(Fault.StallBeforeFirstByte);
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("m", stream: true));
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal(0, (await Requests.LedgerAsync(gateway)).Values.Sum(g => g.PromptTokens + g.CompletionTokens));
    }
}
