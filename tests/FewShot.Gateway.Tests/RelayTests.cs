using System.Net;
using System.Text.Json.Nodes;
using OpenAI.Chat;

namespace FewShot.Gateway.Tests;

/// <summary>Requests for an upstream model go to a real `fewshot serve` process and come back in OpenAI's shapes, charged once.</summary>
[Collection(UpstreamCollection.Name)]
public sealed class RelayTests(UpstreamFixture fixture)
{
    Task<GatewayServer> StartAsync() => GatewayServer.StartAsync(Requests.Merge(
        Requests.Upstream("main", fixture.Upstream.ApiUrl, model: "big", extraKey: "Models:0:Aliases:0", extraValue: "gpt-3.5-turbo")));

    [Fact]
    public async Task ModelsListShowsTheInProcessAndTheUpstreamModels()
    {
        await using var gateway = await StartAsync();
        using var client = gateway.Client(await gateway.IssueAsync());
        var list = await Requests.ObjectAsync(await client.GetAsync("v1/models"));
        var ids = list["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()).ToList();
        Assert.Contains(GatewayServer.LocalModel, ids);
        Assert.Contains("big", ids);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("v1/models/big")).StatusCode);
    }

    [Fact]
    public async Task WithoutAModelFolderTheServerIsAGatewayOnly()
    {
        await using var gateway = await GatewayServer.StartAsync(Requests.Upstream("main", fixture.Upstream.ApiUrl, model: "big"), localModel: false);
        using var client = gateway.Client(await gateway.IssueAsync());
        var list = await Requests.ObjectAsync(await client.GetAsync("v1/models"));
        Assert.Equal(["big"], list["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()));
        using var chat = await client.PostAsync("v1/chat/completions", Requests.Chat("big"));
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        using var unknown = await client.PostAsync("v1/completions", Requests.Completion(GatewayServer.LocalModel));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        var health = JsonNode.Parse(await client.GetStringAsync("healthz"))!;
        Assert.Equal("ok", health["status"]!.GetValue<string>());
        Assert.Null(health["model"]);
    }

    [Fact]
    public async Task FewshotServeWithOnlyAnUpstreamDiscoversItsModelsAndRelaysThem()
    {
        await using var gateway = await UpstreamProcess.ServeAsync(new TempFolder(), "--upstream", $"up={fixture.Upstream.ApiUrl}");
        using var client = new HttpClient { BaseAddress = gateway.BaseUrl, Timeout = TimeSpan.FromSeconds(60) };
        var list = await Requests.ObjectAsync(await client.GetAsync("v1/models"));
        Assert.Equal([UpstreamProcess.ModelName], list["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()));
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat(UpstreamProcess.ModelName, stream: true));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("[DONE]", (await Requests.EventsAsync(response))[^1]);
    }

    [Fact]
    public async Task ThePageModelIsListedFirstWhichIsTheModelThePageUses()
    {
        await using var gateway = await GatewayServer.StartAsync(Requests.Merge(Requests.Upstream("main", fixture.Upstream.ApiUrl, model: "big"),
            new() { ["Serving:PageModel"] = "big" }));
        using var client = gateway.Client(await gateway.IssueAsync());
        var list = await Requests.ObjectAsync(await client.GetAsync("v1/models"));
        Assert.Equal("big", list["data"]![0]!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task NonStreamedChatIsChargedWhatTheUpstreamReported()
    {
        await using var gateway = await StartAsync();
        using var client = gateway.Client(await gateway.IssueAsync());
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("big"));
        var body = await Requests.ObjectAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToJsonString());
        Assert.Equal("big", body["model"]!.GetValue<string>());
        Assert.Equal("chat.completion", body["object"]!.GetValue<string>());
        var usage = body["usage"]!.AsObject();
        Assert.False(usage.ContainsKey("estimated"));
        var ledger = (await Requests.LedgerAsync(gateway))["main"];
        Assert.Equal(1, ledger.Requests);
        Assert.Equal(usage["prompt_tokens"]!.GetValue<long>(), ledger.PromptTokens);
        Assert.Equal(usage["completion_tokens"]!.GetValue<long>(), ledger.CompletionTokens);
        Assert.Equal(0, ledger.EstimatedRequests);
    }

    [Fact]
    public async Task AnAliasReachesItsModel()
    {
        await using var gateway = await StartAsync();
        using var client = gateway.Client(await gateway.IssueAsync());
        using var response = await client.PostAsync("v1/completions", Requests.Completion("gpt-3.5-turbo"));
        var body = await Requests.ObjectAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("gpt-3.5-turbo", body["model"]!.GetValue<string>());
        Assert.Equal("text_completion", body["object"]!.GetValue<string>());
    }

    [Fact]
    public async Task AStreamWithoutIncludeUsageCarriesNoUsageButIsChargedExactly()
    {
        await using var gateway = await StartAsync();
        using var client = gateway.Client(await gateway.IssueAsync());
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("big", maxTokens: 12, stream: true));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = await Requests.EventsAsync(response);
        Assert.Equal("[DONE]", events[^1]);
        Assert.All(events[..^1], e => Assert.Null(JsonNode.Parse(e)!["usage"]));
        Assert.All(events[..^1], e => Assert.Equal("big", JsonNode.Parse(e)!["model"]!.GetValue<string>()));
        var ledger = (await Requests.LedgerAsync(gateway))["main"];
        Assert.Equal(0, ledger.EstimatedRequests);
        Assert.InRange(ledger.CompletionTokens, 1, 12);
    }

    [Fact]
    public async Task AStreamWithIncludeUsageEndsWithTheUpstreamsUsageWhichIsWhatIsCharged()
    {
        await using var gateway = await StartAsync();
        using var client = gateway.Client(await gateway.IssueAsync());
        using var response = await client.PostAsync("v1/completions", Requests.Completion("big", maxTokens: 10, stream: true, includeUsage: true));
        var events = await Requests.EventsAsync(response);
        Assert.Equal("[DONE]", events[^1]);
        var usage = JsonNode.Parse(events[^2])!["usage"]!.AsObject();
        Assert.False(usage.ContainsKey("estimated"));
        Assert.Single(events, e => e != "[DONE]" && JsonNode.Parse(e)!["usage"] is JsonObject);
        var ledger = (await Requests.LedgerAsync(gateway))["main"];
        Assert.Equal(usage["prompt_tokens"]!.GetValue<long>(), ledger.PromptTokens);
        Assert.Equal(usage["completion_tokens"]!.GetValue<long>(), ledger.CompletionTokens);
    }

    [Fact]
    public async Task TheOpenAiSdkChatsThroughTheGatewayPlainAndStreamed()
    {
        await using var gateway = await StartAsync();
        var chat = gateway.OpenAi(await gateway.IssueAsync()).GetChatClient("big");
        // Greedy, so the random upstream model's reply is fixed: a sampled reply can end at its first token.
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0 };
        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("Hi")], options);
        Assert.Equal("big", completion.Model);
        Assert.True(completion.Usage.OutputTokenCount is > 0 and <= 8);
        var parts = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Hi")], options)) parts += update.ContentUpdate.Count;
        Assert.True(parts > 0);
    }

    [Fact]
    public async Task AChatModeBecomesTheSystemMessageForAnUpstreamChatModel()
    {
        await using var gateway = await StartAsync();
        using var client = gateway.Client(await gateway.IssueAsync());
        using var response = await client.PostAsync("v1/chat/completions", Requests.Chat("big", mode: "chat"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var unknown = await client.PostAsync("v1/chat/completions", Requests.Chat("big", mode: "no-such-mode"));
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal("mode", (await Requests.ObjectAsync(unknown))["error"]!["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task TheInProcessModelStillAnswers()
    {
        await using var gateway = await StartAsync();
        using var client = gateway.Client(await gateway.IssueAsync());
        using var response = await client.PostAsync("v1/completions", Requests.Completion(GatewayServer.LocalModel, maxTokens: 4));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False((await Requests.LedgerAsync(gateway)).ContainsKey("main"));
    }
}
