using System.Net;
using System.Text.Json.Nodes;

namespace FewShot.Gateway.Tests;

/// <summary>
/// An upstream base model ("Chat": false): a chat is rendered with the mode's few-shot template, sent to the upstream's
/// /v1/completions, and answered in chat's shapes, as the in-process model does.
/// </summary>
[Collection(UpstreamCollection.Name)]
public sealed class BaseModelTests(UpstreamFixture fixture) : IAsyncLifetime
{
    FaultProxy proxy = null!;
    GatewayServer gateway = null!;
    HttpClient client = null!;

    public async Task InitializeAsync()
    {
        proxy = new FaultProxy(fixture.Upstream.BaseUrl);
        gateway = await GatewayServer.StartAsync(Requests.Upstream("base", proxy.BaseUrl, model: "base", extraKey: "Models:0:Chat", extraValue: "false"));
        client = gateway.Client(await gateway.IssueAsync());
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await gateway.DisposeAsync();
        await proxy.DisposeAsync();
    }

    [Fact]
    public async Task AChatGoesToTheUpstreamsCompletionsInTheModesTemplateAndComesBackAsChat()
    {
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("base", mode: "chat", text: "What is the capital of France?"));
        var body = await Requests.ObjectAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToJsonString());
        Assert.Equal("chat.completion", body["object"]!.GetValue<string>());
        Assert.Equal("assistant", body["choices"]![0]!["message"]!["role"]!.GetValue<string>());
        Assert.NotNull(body["choices"]![0]!["message"]!["content"]);
        var head = Assert.Single(proxy.RequestHeads, h => h.StartsWith("POST", StringComparison.Ordinal));
        Assert.StartsWith("POST /v1/completions ", head);
        var ledger = (await Requests.LedgerAsync(gateway))["base"];
        Assert.Equal(body["usage"]!["prompt_tokens"]!.GetValue<long>(), ledger.PromptTokens); // the template's tokens were reserved for
    }

    [Fact]
    public async Task AStreamedChatOnABaseModelIsChatChunks()
    {
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("base", stream: true, includeUsage: true));
        var events = await Requests.EventsAsync(response);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>()));
        Assert.Contains(chunks, c => c["choices"] is JsonArray { Count: > 0 } choices && choices[0]!["delta"]!["content"] is not null);
        Assert.NotNull(chunks[^1]["usage"]);
    }
}
