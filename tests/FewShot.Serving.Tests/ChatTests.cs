using FewShot.Model.Tokenization;
using FewShot.Serving.Chat;
using Microsoft.Extensions.AI;

namespace FewShot.Serving.Tests;

/// <summary>Modes render conversations GPT-3 style; the in-process IChatClient works without HTTP.</summary>
[Collection(ServerCollection.Name)]
public sealed class ChatTests(ServerFixture fixture)
{
    static readonly ChatModes Shipped = new(ChatModes.ShippedFolder);

    [Fact]
    public void TheFourShippedModesLoad()
    {
        Assert.Equal(["article", "chat", "code", "encyclopedia"], Shipped.All.Select(m => m.Id).Order());
        Assert.All(Shipped.All, m => Assert.True(m.Examples.Length > 0 && m.Title.ContainsKey("zh")));
    }

    [Fact]
    public void PromptHasDescriptionDemonstrationsAndConversationEndingWithTheAssistantMarker()
    {
        Shipped.TryGet("encyclopedia", out var mode);
        var prompt = ChatPromptBuilder.Build(mode, null, [new ChatTurn(true, "What is the capital of France?")], 50, 4096, new ByteTokenizer());
        Assert.StartsWith(mode.Description, prompt.Text);
        Assert.Contains("Q: What is the square root of banana?\nA: Unknown\n", prompt.Text);
        Assert.EndsWith("\n\nQ: What is the capital of France?\nA:", prompt.Text);
        Assert.Contains("\nQ:", mode.TurnStops);
    }

    [Fact]
    public void OverflowDropsOldestTurnsButNeverTheDescriptionOrDemonstrations()
    {
        var mode = Shipped.Default;
        var turns = Enumerable.Range(0, 20).Select(i => new ChatTurn(i % 2 == 0, $"turn number {i} " + new string('z', 40))).ToList();
        var prompt = ChatPromptBuilder.Build(mode, null, turns, 100, 1024, new ByteTokenizer());
        Assert.True(prompt.DroppedTurns > 0);
        Assert.True(prompt.Ids.Length + 100 <= 1024);
        Assert.StartsWith(mode.Description, prompt.Text);
        Assert.Contains(mode.Examples[^1].Assistant, prompt.Text);
        Assert.DoesNotContain("turn number 0 ", prompt.Text);
        Assert.Contains("turn number 19 ", prompt.Text);
        Assert.Throws<ContextLengthExceededException>(() => ChatPromptBuilder.Build(mode, null, turns, 900, 1024, new ByteTokenizer()));
    }

    [Fact]
    public void OperatorFolderAddsAndReplacesModes()
    {
        var folder = Directory.CreateTempSubdirectory("fewshot-modes-").FullName;
        File.WriteAllText(Path.Combine(folder, "poem.json"), """{"description": "Poems.", "user": "Topic", "assistant": "Poem", "examples": [{"user": "rain", "assistant": "drip"}]}""");
        File.WriteAllText(Path.Combine(folder, "chat.json"), """{"id": "chat", "description": "Replaced.", "user": "You", "assistant": "Bot"}""");
        var modes = new ChatModes(ChatModes.ShippedFolder, folder);
        Assert.True(modes.TryGet("poem", out var poem));
        Assert.Equal("Topic", poem.UserMarker);
        Assert.Equal("Replaced.", modes.Default.Description);
        File.WriteAllText(Path.Combine(folder, "bad.json"), """{"description": "", "user": "A", "assistant": "B"}""");
        var error = Assert.Throws<InvalidDataException>(() => new ChatModes(folder));
        Assert.Contains("bad.json", error.Message);
        Assert.Contains("description", error.Message);
    }

    [Fact]
    public async Task InProcessChatClientAnswersAndStreamsTheSameTextAtTemperatureZero()
    {
        IChatClient client = fixture.Server.Get<IChatClient>();
        var options = new ChatOptions { MaxOutputTokens = 16, Temperature = 0, AdditionalProperties = new() { ["mode"] = "code" } };
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "sort a list")], options);
        var streamed = await client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "sort a list")], options).ToChatResponseAsync();
        Assert.Equal(response.Text, streamed.Text.Trim());
        Assert.Equal(response.Usage!.OutputTokenCount, streamed.Usage!.OutputTokenCount);
        Assert.True(response.Usage.InputTokenCount > 50);
    }

    [Fact]
    public async Task CancellingAnInProcessChatThrowsAndFreesTheRow()
    {
        IChatClient client = fixture.Server.Get<IChatClient>();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(30));
        var options = new ChatOptions { MaxOutputTokens = 600, Temperature = 0 };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "go")], options, cancel.Token));
        var scheduler = fixture.Server.Get<FewShot.Serving.Engine.BatchScheduler>();
        for (var i = 0; i < 100 && scheduler.ActiveSequences > 0; i++) await Task.Delay(10);
        Assert.Equal(0, scheduler.ActiveSequences);
    }

    [Fact]
    public void ChatRequestsStopAtTheModesTurnMarkers()
    {
        var client = fixture.Server.Get<FewShotChatClient>();
        var prepared = client.PrepareChat([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { StopSequences = ["END"], AdditionalProperties = new() { ["mode"] = "article" } });
        // The mode's own markers (short ones only at a line's start), the common ones, then the client's.
        Assert.Equal(["Title:", "Article:", "User:", "Assistant:", "Human:", "\nAI:", "END"], prepared.Sampling.Stop);
        Assert.Equal("article", prepared.Mode);
    }
}
