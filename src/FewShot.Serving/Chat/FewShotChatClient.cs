using System.Runtime.CompilerServices;
using FewShot.Model.Generation;
using FewShot.Serving.Engine;
using Microsoft.Extensions.AI;

namespace FewShot.Serving.Chat;

/// <summary>A request made ready for the model: its prompt ids, how to sample, and which mode rendered it (null: raw).</summary>
public sealed record PreparedGeneration(int[] PromptIds, SamplingOptions Sampling, string? Mode, int DroppedTurns);

/// <summary>
/// Chat with a FewShot base model through Microsoft.Extensions.AI: the conversation is rendered by a chat mode
/// (<see cref="ChatPromptBuilder"/>) and decoded by the shared <see cref="BatchScheduler"/>. The HTTP API takes the same
/// path, split in two (<see cref="PrepareChat"/>, then <see cref="Start"/>) so that access control can look at the
/// token count in between. Choose a mode with <c>options.AdditionalProperties["mode"]</c>.
/// </summary>
public sealed class FewShotChatClient(ServedModel served, BatchScheduler scheduler, ChatModes modes) : IChatClient
{
    public const string ModeProperty = "mode";

    public ChatClientMetadata Metadata { get; } = new("fewshot", null, served.Name);

    /// <summary>Renders messages into a prompt. Throws <see cref="ArgumentException"/> (or <see cref="ContextLengthExceededException"/>).</summary>
    public PreparedGeneration PrepareChat(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var modeId = options?.AdditionalProperties?.TryGetValue(ModeProperty, out var value) == true ? value?.ToString() : null;
        ChatMode mode;
        if (modeId is null) mode = modes.Default;
        else if (!modes.TryGet(modeId, out mode)) throw new ArgumentException($"unknown mode '{modeId}' (available: {string.Join(", ", modes.All.Select(m => m.Id))})");

        var list = messages.ToList();
        var system = list.Where(m => m.Role == ChatRole.System).Select(m => m.Text).Where(t => !string.IsNullOrWhiteSpace(t)).ToList();
        var turns = list.Where(m => m.Role == ChatRole.User || m.Role == ChatRole.Assistant)
            .Select(m => new ChatTurn(m.Role == ChatRole.User, m.Text ?? "")).ToList();
        if (turns.Count == 0) throw new ArgumentException("messages must contain at least one user or assistant message");

        var sampling = Sampling(options, mode.MaxTokens, mode.Temperature, mode.TopP, mode.TurnStops);
        var prompt = ChatPromptBuilder.Build(mode, system.Count > 0 ? string.Join("\n", system) : null, turns, sampling.MaxNewTokens, served.ContextLength, served.Tokenizer);
        return new PreparedGeneration(prompt.Ids, sampling, mode.Id, prompt.DroppedTurns);
    }

    /// <summary>A plain completion of <paramref name="prompt"/>, no mode. Throws <see cref="ContextLengthExceededException"/> when it does not fit.</summary>
    public PreparedGeneration PrepareCompletion(string prompt, ChatOptions? options, int defaultMaxTokens, bool scoringOnly = false)
    {
        var ids = served.Tokenizer.Encode(prompt);
        if (ids.Length == 0)
            ids = served.Tokenizer.EndOfText >= 0 ? [served.Tokenizer.EndOfText] : throw new ArgumentException("the prompt is empty");
        return PrepareCompletion(ids, options, defaultMaxTokens, scoringOnly);
    }

    /// <summary>
    /// A plain completion of token ids. With <paramref name="scoringOnly"/> (max_tokens 0, the prompt only scored) the
    /// prompt may be one token longer than the context: its last token is predicted, never fed to the model.
    /// </summary>
    public PreparedGeneration PrepareCompletion(int[] ids, ChatOptions? options, int defaultMaxTokens, bool scoringOnly)
    {
        var sampling = Sampling(options, defaultMaxTokens, 1.0, 1.0, []);
        if (ids.Length + sampling.MaxNewTokens > served.ContextLength + (scoringOnly ? 1 : 0))
            throw new ContextLengthExceededException(
                $"This model's maximum context length is {served.ContextLength} tokens, however you requested {ids.Length + sampling.MaxNewTokens} tokens " +
                $"({ids.Length} in your prompt; {sampling.MaxNewTokens} for the completion). Please reduce your prompt; or completion length.");
        return new PreparedGeneration(ids, sampling, null, 0);
    }

    /// <summary>Queues the generation; throws <see cref="ServerBusyException"/> when the queue is full.</summary>
    public GenerationJob Start(PreparedGeneration prepared, CancellationToken cancel, JobExtras? extras = null)
    {
        var job = new GenerationJob(prepared.PromptIds, prepared.Sampling, cancel, extras);
        scheduler.Submit(job);
        return job;
    }

    /// <summary>Queues prompts for scoring (each token's log-probability and <paramref name="top"/> alternatives); throws <see cref="ServerBusyException"/> when full.</summary>
    public ScoringJob Score(IReadOnlyList<int[]> prompts, int top, CancellationToken cancel)
    {
        var job = new ScoringJob(prompts, top, cancel);
        scheduler.SubmitScoring(job);
        return job;
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var job = Start(PrepareChat(messages, options), cancellationToken);
        var result = await job.Result.WaitAsync(CancellationToken.None);
        cancellationToken.ThrowIfCancellationRequested(); // the sequence was cut short because the caller cancelled
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text.Trim()))
        {
            ModelId = served.Name,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = ToFinishReason(result.FinishReason),
            Usage = Usage(result),
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var job = Start(PrepareChat(messages, options), cancellationToken);
        var leading = true;
        await foreach (var chunk in job.Chunks.ReadAllAsync(CancellationToken.None))
        {
            // The prompt ends with "AI:"; the model's reply starts with the space after the colon.
            var text = leading ? chunk.Text.TrimStart() : chunk.Text;
            if (text.Length == 0) continue;
            leading = false;
            yield return new ChatResponseUpdate(ChatRole.Assistant, text) { ModelId = served.Name };
        }
        var result = await job.Result;
        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(Usage(result))])
        {
            ModelId = served.Name,
            FinishReason = ToFinishReason(result.FinishReason),
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? Metadata
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose() { }

    static SamplingOptions Sampling(ChatOptions? options, int maxTokens, double temperature, double topP, IReadOnlyList<string> stops) => new SamplingOptions
    {
        MaxNewTokens = options?.MaxOutputTokens ?? maxTokens,
        Temperature = options?.Temperature ?? temperature,
        TopP = options?.TopP ?? topP,
        TopK = options?.TopK ?? 0,
        Seed = options?.Seed,
        Stop = [.. stops, .. options?.StopSequences ?? []],
    }.Validate();

    static UsageDetails Usage(GenerationResult result) => new()
    {
        InputTokenCount = result.PromptTokens,
        OutputTokenCount = result.CompletionTokens,
        TotalTokenCount = result.PromptTokens + result.CompletionTokens,
    };

    static ChatFinishReason ToFinishReason(string reason) => reason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;
}
