using FewShot.Model.Generation;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;

namespace FewShot.Serving.Engine;

/// <summary>
/// One active sequence in the scheduler's batch: its cache row, the token to feed next, and the text released so far.
/// Lives on the scheduler thread only.
/// </summary>
sealed class DecodingSlot(GenerationJob job, ITokenizer tokenizer) : IDisposable
{
    readonly List<int> ids = [];
    readonly List<int> pendingIds = [];
    readonly List<TokenLogprob> logprobs = [];
    readonly List<TokenLogprob> pendingLogprobs = [];
    readonly StopSequenceFilter filter = new(job.Sampling.Stop);

    public GenerationJob Job => job;
    /// <summary>The last sampled token; not yet in the cache (the next decoding step feeds it).</summary>
    public long Next { get; private set; }
    public string? FinishReason { get; private set; }
    public bool HasFirstToken { get; private set; }
    /// <summary>Decoding steps this slot took part in after its client cancelled (the bench checks it stays at most 1).</summary>
    public int StepsAfterCancel { get; set; }
    /// <summary>A private random generator when the request gave a seed, so its samples do not depend on its neighbours.</summary>
    public Generator? Generator { get; } = job.Sampling.Seed is { } seed ? new Generator((ulong)seed) : null;

    /// <summary>Takes a sampled token (with its log-probability when the job asked); returns true when the sequence has ended.</summary>
    public bool Accept(long id, TokenLogprob? logprob = null)
    {
        HasFirstToken = true;
        Next = id;
        var sampling = job.Sampling;
        if (sampling.StopAtEndOfText && id == tokenizer.EndOfText) return End(Model.Generation.FinishReason.Stop);
        ids.Add((int)id);
        pendingIds.Add((int)id);
        if (logprob is not null) { logprobs.Add(logprob); pendingLogprobs.Add(logprob); }
        var released = filter.Update(tokenizer.Decode(ids));
        if (released.Length > 0) Emit(released);
        if (filter.Stopped) return End(Model.Generation.FinishReason.Stop);
        return ids.Count >= sampling.MaxNewTokens && End(Model.Generation.FinishReason.Length);
    }

    /// <summary>Ends the sequence (if it has not ended yet) with the given reason.</summary>
    public bool End(string reason)
    {
        if (FinishReason is not null) return true;
        FinishReason = reason;
        var rest = filter.Flush();
        if (rest.Length > 0 || pendingIds.Count > 0) Emit(rest);
        return true;
    }

    public GenerationResult Result() =>
        new(job.PromptIds.Length, ids.Count, filter.FinalText, FinishReason ?? Model.Generation.FinishReason.Length,
            job.Extras.TopLogprobs is null ? null : [.. logprobs]);

    void Emit(string text)
    {
        job.Emit(new ReleasedChunk([.. pendingIds], text, job.Extras.TopLogprobs is null ? null : [.. pendingLogprobs]));
        pendingIds.Clear();
        pendingLogprobs.Clear();
    }

    public void Dispose() => Generator?.Dispose();
}
