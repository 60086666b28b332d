using System.Net;
using System.Text.Json.Nodes;

namespace FewShot.Gateway.Tests;

/// <summary>
/// Two upstreams for one model, each behind a fault-injecting proxy: the "bad" one is tried first (it has all the
/// weight), the "good" one is there to fail over to. Failures before the first byte move on; after it, they do not.
/// </summary>
[Collection(UpstreamCollection.Name)]
public sealed class FailoverTests(UpstreamFixture fixture) : IAsyncLifetime
{
    FaultProxy bad = null!, good = null!;
    GatewayServer gateway = null!;
    HttpClient client = null!;

    public async Task InitializeAsync()
    {
        bad = new FaultProxy(fixture.Upstream.BaseUrl);
        good = new FaultProxy(fixture.Upstream.BaseUrl);
        gateway = await GatewayServer.StartAsync(Requests.Merge(
            Requests.Upstream("bad", bad.BaseUrl, model: "m", weight: 1000, extraKey: "FirstByteTimeoutSeconds", extraValue: "1"),
            Requests.Upstream("good", good.BaseUrl, model: "m", weight: 0.001),
            new() { ["Serving:Upstreams:bad:BreakerFailures"] = "100", ["Serving:Upstreams:bad:IdleTimeoutSeconds"] = "1" }));
        client = gateway.Client(await gateway.IssueAsync());
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await gateway.DisposeAsync();
        await bad.DisposeAsync();
        await good.DisposeAsync();
    }

    [Theory]
    [InlineData(Fault.Refuse, false)]
    [InlineData(Fault.Status429, true)]
    [InlineData(Fault.Status503, true)]
    [InlineData(Fault.StallBeforeFirstByte, true)]
    public async Task AFailureBeforeTheFirstByteMovesToAnotherUpstream(Fault fault, bool reachesBad)
    {
        bad.Set(fault);
        foreach (var stream in new[] { false, true })
        {
            var (badBefore, goodBefore) = (bad.Requests, good.Requests);
            using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("m", stream: stream));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            if (stream) Assert.EndsWith("data: [DONE]\n\n", text);
            Assert.Equal(reachesBad ? badBefore + 1 : badBefore, bad.Requests);
            Assert.Equal(goodBefore + 1, good.Requests);
        }
    }

    [Fact]
    public async Task AStreamCutAfterTheFirstByteIsNotRetriedAndEndsWithAnErrorEvent()
    {
        bad.Set(Fault.CutStream);
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("m", maxTokens: 40, stream: true));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await Requests.EventsAsync(response);
        Assert.DoesNotContain("[DONE]", events);
        Assert.Equal("upstream_stream_cut", JsonNode.Parse(events[^1])!["error"]!["code"]!.GetValue<string>());
        Assert.Equal(0, good.Requests);
        // Charged for what was delivered, by our count, and marked estimated.
        var ledger = (await Requests.LedgerAsync(gateway))["bad"];
        Assert.Equal(1, ledger.EstimatedRequests);
        Assert.True(ledger.PromptTokens > 0);
    }

    [Fact]
    public async Task A500IsNotRetriedAndReachesTheClientAs502WithoutTheUpstreamsAddress()
    {
        bad.Set(Fault.Status500);
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("m"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("upstream_error", JsonNode.Parse(text)!["error"]!["code"]!.GetValue<string>());
        Assert.DoesNotContain(fixture.Upstream.BaseUrl.Authority, text);
        Assert.Equal(0, good.Requests);
    }

    [Fact]
    public async Task ClosingTheClientsStreamClosesTheUpstreamRequest()
    {
        bad.Set(Fault.Endless);
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Requests.Chat("m", maxTokens: 64, stream: true) };
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        for (var events = 0; events < 3;)
            if ((await reader.ReadLineAsync())!.StartsWith("data: ", StringComparison.Ordinal)) events++;
        response.Dispose(); // the client goes away
        var closed = await bad.EndlessClosed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(closed < TimeSpan.FromSeconds(5), $"the upstream stream was closed {closed} after it started");
    }

    [Fact]
    public async Task AStreamPastMaxTokensIsCutAndChargedForWhatWasDelivered()
    {
        bad.Set(Fault.Endless);
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("m", maxTokens: 5, stream: true));
        var events = await Requests.EventsAsync(response);
        Assert.Equal("upstream_exceeded_max_tokens", JsonNode.Parse(events[^1])!["error"]!["code"]!.GetValue<string>());
        Assert.Equal(5, events.Count(e => JsonNode.Parse(e)!["choices"] is JsonArray { Count: > 0 }));
        var ledger = (await Requests.LedgerAsync(gateway))["bad"];
        Assert.Equal(1, ledger.EstimatedRequests);
        Assert.InRange(ledger.CompletionTokens, 5, 20); // "tok0 tok1 tok2 tok3 tok4 " by r50k
        await ServesAgainAsync();
    }

    [Fact]
    public async Task MalformedEventsAreCutWithACleanErrorAndTheServerKeepsServing()
    {
        bad.Set(Fault.MalformedSse);
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("m", stream: true));
        var events = await Requests.EventsAsync(response);
        Assert.Equal("upstream_malformed_stream", JsonNode.Parse(events[^1])!["error"]!["code"]!.GetValue<string>());
        bad.Set(Fault.NotJson);
        using var plain = await client.PostAsync("v1/chat/completions", Requests.Chat("m"));
        Assert.Equal(HttpStatusCode.BadGateway, plain.StatusCode);
        Assert.Equal("upstream_invalid_response", (await Requests.ObjectAsync(plain))["error"]!["code"]!.GetValue<string>());
        await ServesAgainAsync();
    }

    [Fact]
    public async Task AnUpstreamThatReportsNoUsageIsChargedByOurCountAndMarkedEstimated()
    {
        bad.Set(Fault.DropUsage);
        using var response = await client.PostAsync("v1/completions", Requests.Completion("m"));
        var usage = (await Requests.ObjectAsync(response))["usage"]!.AsObject();
        Assert.True(usage["estimated"]!.GetValue<bool>());
        using var streamed = await client.PostAsync("v1/completions", Requests.Completion("m", stream: true, includeUsage: true));
        var events = await Requests.EventsAsync(streamed);
        Assert.True(JsonNode.Parse(events[^2])!["usage"]!["estimated"]!.GetValue<bool>());
        var ledger = (await Requests.LedgerAsync(gateway))["bad"];
        Assert.Equal(2, ledger.EstimatedRequests);
        Assert.Equal(usage["completion_tokens"]!.GetValue<long>() + JsonNode.Parse(events[^2])!["usage"]!["completion_tokens"]!.GetValue<long>(), ledger.CompletionTokens);
    }

    async Task ServesAgainAsync()
    {
        bad.Set(Fault.None);
        using var again = await client.PostAsync("v1/chat/completions", Requests.Chat("m"));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }
}
