using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI.Chat;

namespace FewShot.Serving.Tests;

/// <summary>Every bad request gets OpenAI's error shape with the right status, and the server keeps serving.</summary>
[Collection(ServerCollection.Name)]
public sealed class ErrorTests(ServerFixture fixture)
{
    TestServer Server => fixture.Server;
    ChatClient Chat(string model = TinyModel.Name) => Server.OpenAi().GetChatClient(model);

    [Fact]
    public async Task NegativeTemperatureThroughTheSdkIs400NamingTheParameter()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            Chat().CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { Temperature = -1 }));
        Assert.Equal(400, error.Status);
        var body = ErrorOf(error);
        Assert.Equal("invalid_request_error", body.GetProperty("type").GetString());
        Assert.Equal("temperature", body.GetProperty("param").GetString());
    }

    [Fact]
    public async Task PromptLongerThanTheContextThroughTheSdkIs400ContextLengthExceeded()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            Chat().CompleteChatAsync([new UserChatMessage(new string('x', 2000))], new ChatCompletionOptions { MaxOutputTokenCount = 10 }));
        Assert.Equal(400, error.Status);
        Assert.Equal("context_length_exceeded", ErrorOf(error).GetProperty("code").GetString());
    }

    [Fact]
    public async Task UnknownModelThroughTheSdkIs404()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() => Chat("gpt-17").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, error.Status);
        Assert.Equal("model_not_found", ErrorOf(error).GetProperty("code").GetString());
    }

    [Fact]
    public async Task BodyOverTheLimitThroughTheSdkIs413()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() => Chat().CompleteChatAsync([new UserChatMessage(new string('y', 100_000))]));
        Assert.Equal(413, error.Status);
        Assert.Equal("request_too_large", ErrorOf(error).GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("{\"model\": \"tiny-bytes\", \"messages\": [", null, "invalid_json")]
    [InlineData("[1, 2]", null, "invalid_json")]
    [InlineData("{\"model\": \"tiny-bytes\", \"messages\": []}", "messages", "empty_array")]
    [InlineData("{\"model\": \"tiny-bytes\"}", "messages", "missing_required_parameter")]
    [InlineData("{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": \"hot\"}", "temperature", "invalid_type")]
    [InlineData("{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"n\": 1000}", "n", "invalid_value")]
    [InlineData("{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 5000}", "max_tokens", "invalid_value")]
    [InlineData("{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stream\": \"yes\"}", "stream", "invalid_type")]
    [InlineData("{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", "messages[0].role", "invalid_value")]
    [InlineData("{\"model\": 7, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "model", "invalid_type")]
    public async Task BadRequestsAre400WithOpenAiShape(string json, string? param, string code)
    {
        var response = await Server.Http.PostAsync("v1/chat/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task InvalidUtf8Is400AndTheServerKeepsServing()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}");
        var at = Array.IndexOf(bytes, (byte)'a');
        bytes[at] = 0xC3; // a lone lead byte
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var response = await Server.Http.PostAsync("v1/chat/completions", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_json", (await ErrorOf(response)).GetProperty("code").GetString());

        var fine = await Chat().CompleteChatAsync([new UserChatMessage("still there?")], new ChatCompletionOptions { MaxOutputTokenCount = 3 });
        Assert.True(fine.Value.Usage.OutputTokenCount >= 1);
    }

    [Fact]
    public async Task UnknownFieldsAreIgnored()
    {
        var json = "{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\", \"name\": \"ann\"}], \"max_tokens\": 2, \"frobnicate\": {\"x\": [1]}, \"user\": \"u1\"}";
        var response = await Server.Http.PostAsync("v1/chat/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task FullServerIs503WithRetryAfter()
    {
        await using var busy = await TestServer.StartAsync(new() { ["Serving:MaxConcurrentSequences"] = "1", ["Serving:MaxQueueLength"] = "0", ["Serving:RetryAfterSeconds"] = "2" });
        var chat = busy.OpenAi().GetChatClient(TinyModel.Name);
        // Occupy the only row with a long generation that cannot end early, then ask again.
        using var cancel = new CancellationTokenSource();
        var served = busy.Get<FewShot.Serving.Engine.ServedModel>();
        var occupant = new FewShot.Serving.Engine.GenerationJob(served.Tokenizer.Encode("go on"),
            new FewShot.Model.Generation.SamplingOptions { MaxNewTokens = 900, StopAtEndOfText = false }, cancel.Token);
        busy.Get<FewShot.Serving.Engine.BatchScheduler>().Submit(occupant);
        Assert.True(await occupant.Chunks.WaitToReadAsync());
        var error = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("me too")]));
        Assert.Equal(503, error.Status);
        Assert.Equal("2", error.GetRawResponse()!.Headers.TryGetValue("Retry-After", out var retry) ? retry : null);
        Assert.Equal("server_error", ErrorOf(error).GetProperty("type").GetString());
        await cancel.CancelAsync();
        Assert.Equal("cancelled", (await occupant.Result).FinishReason);
    }

    static JsonElement ErrorOf(ClientResultException error)
    {
        using var json = JsonDocument.Parse(error.GetRawResponse()!.Content);
        return json.RootElement.GetProperty("error").Clone();
    }

    static async Task<JsonElement> ErrorOf(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("error").Clone();
    }

    /// <summary>An imported model without a text tokenizer (kind "ids") takes token-id prompts; text is a 400 naming the field, not a 500.</summary>
    [Fact]
    public async Task TextToAModelWithoutATextTokenizerIs400AndTokenIdsStillWork()
    {
        var folder = Path.Combine(Directory.CreateTempSubdirectory("fewshot-ids-").FullName, "ids-model");
        TorchSharp.torch.manual_seed(3);
        using (var model = new FewShot.Model.Gpt(TinyModel.Config))
            FewShot.Model.Storage.ModelFolder.Save(model, new FewShot.Model.Tokenization.IdTokenizer(257, 256), folder);
        await using var server = await TestServer.StartAsync(new() { ["Serving:Model"] = folder });

        var chat = await server.Http.PostAsync("v1/chat/completions", Json("""{"model": "ids-model", "messages": [{"role": "user", "content": "hi"}]}"""));
        Assert.Equal(HttpStatusCode.BadRequest, chat.StatusCode);
        var error = JsonDocument.Parse(await chat.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("messages", error.GetProperty("param").GetString());
        Assert.Contains("token ids", error.GetProperty("message").GetString());
        var text = await server.Http.PostAsync("v1/completions", Json("""{"model": "ids-model", "prompt": "hi", "max_tokens": 2}"""));
        Assert.Equal(HttpStatusCode.BadRequest, text.StatusCode);
        var ids = await server.Http.PostAsync("v1/completions", Json("""{"model": "ids-model", "prompt": [1, 2, 3], "max_tokens": 2}"""));
        Assert.Equal(HttpStatusCode.OK, ids.StatusCode);
    }

    static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
