using System.Diagnostics;
using System.Threading.Channels;
using FewShot.Model.Generation;

namespace FewShot.Serving.Engine;

/// <summary>
/// What a finished sequence produced: its token counts, text (cut at a stop sequence), why it ended, and - when the job
/// asked for log-probabilities - each generated token with its log-probability (end-of-text not included).
/// </summary>
public sealed record GenerationResult(int PromptTokens, int CompletionTokens, string Text, string FinishReason, TokenLogprob[]? Logprobs = null);

/// <summary>A piece of streamed output: the token(s) that became final, their text, and their log-probabilities when asked for.</summary>
public sealed record ReleasedChunk(int[] Ids, string Text, TokenLogprob[]? Logprobs);

/// <summary>
/// Per-job extras: <see cref="TopLogprobs"/> (null: no log-probabilities; 0: only each sampled token's) and
/// <see cref="LogitBias"/> (added to the logits of those token ids before sampling).
/// </summary>
public sealed record JobExtras(int? TopLogprobs = null, IReadOnlyDictionary<int, float>? LogitBias = null)
{
    public static readonly JobExtras None = new();
}

/// <summary>
/// One sequence waiting for or being decoded by the <see cref="BatchScheduler"/>. The scheduler writes released text to
/// <see cref="Chunks"/> and completes <see cref="Result"/>; the request side reads both and cancels through its token.
/// </summary>
public sealed class GenerationJob
{
    readonly Channel<ReleasedChunk> chunks = Channel.CreateUnbounded<ReleasedChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    readonly TaskCompletionSource<GenerationResult> result = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public GenerationJob(int[] promptIds, SamplingOptions sampling, CancellationToken cancel, JobExtras? extras = null)
    {
        PromptIds = promptIds;
        Sampling = sampling;
        Extras = extras ?? JobExtras.None;
        Cancel = cancel;
        // Remember when cancellation arrived, so the scheduler can report how fast the slot was freed.
        cancel.Register(() => CancelledAtTicks = Stopwatch.GetTimestamp());
    }

    public int[] PromptIds { get; }
    public SamplingOptions Sampling { get; }
    public JobExtras Extras { get; }
    public CancellationToken Cancel { get; }
    public long EnqueuedAtTicks { get; } = Stopwatch.GetTimestamp();
    internal long CancelledAtTicks { get; private set; }

    /// <summary>Released text as it becomes final (held back while it could still become a stop sequence).</summary>
    public ChannelReader<ReleasedChunk> Chunks => chunks.Reader;
    public Task<GenerationResult> Result => result.Task;

    internal void Emit(ReleasedChunk chunk) => chunks.Writer.TryWrite(chunk);

    internal void Complete(GenerationResult value)
    {
        chunks.Writer.TryComplete();
        result.TrySetResult(value);
    }

    internal void Fail(Exception error)
    {
        chunks.Writer.TryComplete(error);
        result.TrySetException(error);
    }
}

/// <summary>The queue is full: the caller should answer 503 with Retry-After.</summary>
public sealed class ServerBusyException(string message) : Exception(message);
