using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text;
using System.Text.Json;
using OpenAI.Chat;

namespace FewShot.Serving.Tests;

/// <summary>The official OpenAI .NET SDK, pointed at our base URL, works unchanged.</summary>
[Collection(ServerCollection.Name)]
public sealed class SdkTests(ServerFixture fixture)
{
    TestServer Server => fixture.Server;

    [Fact]
    public async Task ChatCompletionReturnsAssistantTextAndUsage()
    {
        var chat = Server.OpenAi().GetChatClient(TinyModel.Name);
        var result = await chat.CompleteChatAsync([new UserChatMessage("Hello there")], new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0 });
        var completion = result.Value;
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.True(completion.Usage.InputTokenCount > "User: Hello there\nAssistant:".Length, "the prompt includes the mode's description and demonstrations");
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 12);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
        Assert.Equal(TinyModel.Name, completion.Model);
    }

    [Fact]
    public async Task StreamedChatEqualsTheNonStreamedAnswerAtTemperatureZero()
    {
        var chat = Server.OpenAi().GetChatClient(TinyModel.Name);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 20, Temperature = 0 };
        var whole = (await chat.CompleteChatAsync([new UserChatMessage("Tell me a story")], options)).Value;

        var text = new StringBuilder();
        var updates = 0;
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Tell me a story")], options))
        {
            updates++;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }
        Assert.True(updates >= 3, $"expected several chunks, got {updates}");
        Assert.Equal(whole.Content.Count == 0 ? "" : whole.Content[0].Text, text.ToString().Trim());
        Assert.Equal(whole.FinishReason, finish);
        Assert.NotNull(usage); // the SDK asks for stream_options.include_usage
        Assert.Equal(whole.Usage.OutputTokenCount, usage!.OutputTokenCount);
        Assert.Equal(whole.Usage.InputTokenCount, usage.InputTokenCount);
    }

    [Fact]
    public async Task TheSameSeedGivesTheSameSampleEvenWhenBatchedWithOthers()
    {
        var chat = Server.OpenAi().GetChatClient(TinyModel.Name);
#pragma warning disable OPENAI001 // Seed is marked experimental in the SDK; the API field is stable.
        ChatCompletionOptions Options(long seed) => new() { MaxOutputTokenCount = 24, Temperature = 1, Seed = seed };
#pragma warning restore OPENAI001
        var runs = await Task.WhenAll(
            chat.CompleteChatAsync([new UserChatMessage("Roll the dice")], Options(42)),
            chat.CompleteChatAsync([new UserChatMessage("Roll the dice")], Options(42)),
            chat.CompleteChatAsync([new UserChatMessage("Roll the dice")], Options(7)));
        string Text(int i) => runs[i].Value.Content.Count == 0 ? "" : runs[i].Value.Content[0].Text;
        Assert.Equal(Text(0), Text(1));
        Assert.NotEqual(Text(0), Text(2));
    }

    [Fact]
    public async Task CompletionsThroughTheSdkPipelineReturnTextAndUsage()
    {
        var client = Server.OpenAi();
        var body = JsonSerializer.Serialize(new { model = TinyModel.Name, prompt = "Once upon a time", max_tokens = 7, temperature = 0, n = 2 });
        using var message = client.Pipeline.CreateMessage();
        message.Request.Method = "POST";
        message.Request.Uri = new Uri(Server.ApiUrl + "/completions");
        message.Request.Headers.Set("Content-Type", "application/json");
        message.Request.Content = BinaryContent.Create(BinaryData.FromString(body));
        await client.Pipeline.SendAsync(message);
        Assert.Equal(200, message.Response!.Status);
        using var json = JsonDocument.Parse(message.Response.Content);
        var root = json.RootElement;
        Assert.Equal("text_completion", root.GetProperty("object").GetString());
        var choices = root.GetProperty("choices");
        Assert.Equal(2, choices.GetArrayLength());
        Assert.Equal(choices[0].GetProperty("text").GetString(), choices[1].GetProperty("text").GetString()); // greedy: both choices agree
        Assert.Equal("Once upon a time".Length, root.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var generated = root.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        if (choices[0].GetProperty("finish_reason").GetString() == "length") Assert.Equal(14, generated); // 2 choices x max_tokens
        else Assert.InRange(generated, 0, 13);
    }

    [Fact]
    public async Task ModelsListTheServedModelAndUnknownModelsAre404()
    {
        var models = Server.OpenAi().GetOpenAIModelClient();
        var list = (await models.GetModelsAsync()).Value;
        Assert.Contains(list, m => m.Id == TinyModel.Name && m.OwnedBy == "fewshot");
        var one = (await models.GetModelAsync(TinyModel.Name)).Value;
        Assert.Equal(TinyModel.Name, one.Id);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => models.GetModelAsync("gpt-17"));
        Assert.Equal(404, error.Status);
    }
}
