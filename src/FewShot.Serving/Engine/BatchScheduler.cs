using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using FewShot.Model;
using FewShot.Model.Generation;
using FewShot.Serving.Hosting;
using FewShot.Serving.Observability;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;

namespace FewShot.Serving.Engine;

/// <summary>How quickly a cancelled sequence left the batch: milliseconds from cancellation to its row being freed,
/// and how many decoding steps it still took part in (0 or 1 by construction).</summary>
public sealed record CancellationRecord(double Milliseconds, int Steps);

/// <summary>
/// Owns the model on one dedicated thread (TorchSharp dispose scopes are per thread, so no model work may await) and
/// decodes every active sequence together, one token per step: continuous batching. Requests arrive through a bounded
/// channel; at each token boundary the scheduler drops cancelled rows, prefills newcomers into free rows of the KV
/// cache, then runs one batched decoding step. Finished rows leave by moving the last row into the hole, so rows
/// [0, active) are always the batch.
/// </summary>
public sealed class BatchScheduler : IHostedService, IDisposable
{
    readonly ServedModel served;
    readonly ServingOptions options;
    readonly ServingMetrics metrics;
    readonly ILogger<BatchScheduler> logger;
    readonly Channel<GenerationJob> queue;
    readonly Channel<ScoringJob> scoring = Channel.CreateUnbounded<ScoringJob>(new UnboundedChannelOptions { SingleReader = true });
    readonly CancellationTokenSource stopping = new();
    readonly ConcurrentQueue<CancellationRecord> cancellations = new();
    Thread? thread;
    int queued;
    int scoringQueued;
    long steps;

    public BatchScheduler(ServedModel served, IOptions<ServingOptions> options, ServingMetrics metrics, ILogger<BatchScheduler> logger)
    {
        this.served = served;
        this.options = options.Value;
        this.metrics = metrics;
        this.logger = logger;
        // The channel holds waiting jobs only; the bound is enforced in Submit so that a full queue fails fast.
        queue = Channel.CreateUnbounded<GenerationJob>(new UnboundedChannelOptions { SingleReader = true });
    }

    public int QueueDepth => Volatile.Read(ref queued);
    public int ActiveSequences { get; private set; }
    public long Steps => Interlocked.Read(ref steps);
    /// <summary>Forward passes run to score prompts (echo with logprobs) so far: many prompts share each.</summary>
    public long ScoringPasses => Interlocked.Read(ref scoringPasses);
    long scoringPasses;
    public int MaxConcurrentSequences => options.MaxConcurrentSequences;

    /// <summary>The most recent cancellations (up to 256), oldest first.</summary>
    public IReadOnlyList<CancellationRecord> RecentCancellations => [.. cancellations];

    /// <summary>Queues a job; throws <see cref="ServerBusyException"/> when every row is busy and the queue is full.</summary>
    public void Submit(GenerationJob job)
    {
        if (stopping.IsCancellationRequested) throw new ServerBusyException("the server is shutting down");
        var depth = Interlocked.Increment(ref queued);
        if (depth > options.MaxQueueLength + Math.Max(0, options.MaxConcurrentSequences - ActiveSequences))
        {
            Interlocked.Decrement(ref queued);
            throw new ServerBusyException($"the server is busy: {options.MaxConcurrentSequences} sequences are being generated and {options.MaxQueueLength} are waiting; retry shortly");
        }
        metrics.SetQueueDepth(depth);
        queue.Writer.TryWrite(job);
    }

    /// <summary>
    /// Queues prompts to score; they run between two decoding steps (active sequences wait one step for them). Throws
    /// <see cref="ServerBusyException"/> when <see cref="ServingOptions.MaxQueueLength"/> scoring jobs already wait.
    /// </summary>
    public void SubmitScoring(ScoringJob job)
    {
        if (stopping.IsCancellationRequested) throw new ServerBusyException("the server is shutting down");
        if (Interlocked.Increment(ref scoringQueued) > Math.Max(1, options.MaxQueueLength))
        {
            Interlocked.Decrement(ref scoringQueued);
            throw new ServerBusyException($"the server is busy: {options.MaxQueueLength} scoring requests are waiting; retry shortly");
        }
        scoring.Writer.TryWrite(job);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        thread = new Thread(Run) { IsBackground = true, Name = "fewshot-batch-scheduler" };
        thread.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        stopping.Cancel();
        queue.Writer.TryComplete();
        scoring.Writer.TryComplete();
        thread?.Join(TimeSpan.FromSeconds(10));
        return Task.CompletedTask;
    }

    void Run()
    {
        var model = served.Model;
        var active = new List<DecodingSlot>();
        try
        {
            if (options.Threads > 0) set_num_threads(options.Threads);
            using var _ = no_grad();
            model.eval();
            using var cache = served.Decoder.Open(options.MaxConcurrentSequences, served.ContextLength);
            while (!stopping.IsCancellationRequested)
            {
                if (active.Count == 0 && !WaitForWork()) break;
                try
                {
                    RemoveFinished(active, cache, cancelledOnly: true);
                    while (scoring.Reader.TryRead(out var prompts)) RunScoring(prompts);
                    while (active.Count < options.MaxConcurrentSequences && queue.Reader.TryRead(out var job))
                    {
                        metrics.SetQueueDepth(Interlocked.Decrement(ref queued));
                        Admit(job, active, cache);
                    }
                    ActiveSequences = active.Count;
                    metrics.SetActiveSequences(active.Count);
                    if (active.Count > 0) DecodeStep(active, cache);
                }
                catch (Exception e)
                {
                    // A failed step (e.g. out of memory) fails the sequences in this batch; the server keeps serving.
                    logger.LogError(e, "A decoding step failed for {Count} sequences: {Message}", active.Count, e.Message);
                    foreach (var slot in active) { slot.Job.Fail(e); slot.Dispose(); }
                    active.Clear();
                    ActiveSequences = 0;
                }
            }
        }
        catch (Exception e)
        {
            logger.LogCritical(e, "The batch scheduler stopped: {Message}", e.Message);
            foreach (var slot in active) slot.Job.Fail(e);
            active.Clear();
        }
        var shutdown = new ServerBusyException("the server is shutting down");
        foreach (var slot in active) { slot.Job.Fail(shutdown); slot.Dispose(); }
        while (queue.Reader.TryRead(out var waiting)) waiting.Fail(shutdown);
        while (scoring.Reader.TryRead(out var prompts)) prompts.Fail(shutdown);
    }

    // Blocks until a generation or a scoring job arrives; false when the server stops.
    bool WaitForWork()
    {
        try
        {
            if (queue.Reader.TryPeek(out _) || scoring.Reader.TryPeek(out _)) return true;
            var either = Task.WhenAny(queue.Reader.WaitToReadAsync(stopping.Token).AsTask(), scoring.Reader.WaitToReadAsync(stopping.Token).AsTask());
            return either.GetAwaiter().GetResult().GetAwaiter().GetResult() || scoring.Reader.TryPeek(out _) || queue.Reader.TryPeek(out _);
        }
        catch (OperationCanceledException) { return false; }
    }

    // Scores one request's prompts; a failure (e.g. out of memory) fails that request only.
    void RunScoring(ScoringJob job)
    {
        Interlocked.Decrement(ref scoringQueued);
        if (job.Cancel.IsCancellationRequested) { job.Fail(new OperationCanceledException(job.Cancel)); return; }
        try
        {
            using var scope = NewDisposeScope();
            var scored = PromptScorer.Score(served.Model, job.Prompts, job.Top, options.ScoringTokenBudget, () => Interlocked.Increment(ref scoringPasses));
            metrics.AddPromptTokens(job.Prompts.Sum(p => p.Length));
            job.Complete(scored);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Scoring {Count} prompts failed: {Message}", job.Prompts.Count, e.Message);
            job.Fail(e);
        }
    }

    // Prefills a new sequence into the next free row and samples its first token.
    void Admit(GenerationJob job, List<DecodingSlot> active, IDecodeSession cache)
    {
        if (job.Cancel.IsCancellationRequested) { job.Complete(new GenerationResult(job.PromptIds.Length, 0, "", FinishReason.Cancelled)); return; }
        if (job.Sampling.MaxNewTokens == 0) { job.Complete(new GenerationResult(job.PromptIds.Length, 0, "", FinishReason.Length)); return; }
        if (job.PromptIds.Length == 0 || job.PromptIds.Length >= served.ContextLength || job.PromptIds.Any(id => id < 0 || id >= served.Model.Config.VocabSize))
        {
            job.Fail(new ArgumentException($"the prompt must have 1 to {served.ContextLength - 1} valid token ids"));
            return;
        }

        var slot = new DecodingSlot(job, served.Tokenizer);
        var row = active.Count;
        active.Add(slot);
        ActiveSequences = active.Count;
        metrics.AddPromptTokens(job.PromptIds.Length);
        using (var scope = NewDisposeScope())
        {
            cache.SetLength(row, 0);
            var logits = cache.Prefill(row, [job.PromptIds]); // (1, V)
            var first = Sample(Biased(logits, [slot]), [slot])[0];
            AcceptAndTime(slot, first, LogprobOf(logits, 0, slot, first));
        }
        if (slot.FinishReason is null && cache.Length(row) >= served.ContextLength) slot.End(FinishReason.Length);
        if (slot.FinishReason is not null) RemoveFinished(active, cache, cancelledOnly: false);
    }

    // Feeds every row's pending token, samples the next one, and retires rows that finished.
    void DecodeStep(List<DecodingSlot> active, IDecodeSession cache)
    {
        var started = Stopwatch.GetTimestamp();
        using (var scope = NewDisposeScope())
        {
            var logits = cache.Step(active.Select(s => s.Next).ToArray()); // (A, V)
            var picked = Sample(Biased(logits, active), active);
            for (var r = 0; r < active.Count; r++)
            {
                var slot = active[r];
                if (slot.Job.Cancel.IsCancellationRequested) { slot.StepsAfterCancel++; continue; }
                AcceptAndTime(slot, picked[r], LogprobOf(logits, r, slot, picked[r]));
                if (slot.FinishReason is null && cache.Length(r) >= served.ContextLength) slot.End(FinishReason.Length);
            }
        }
        Interlocked.Increment(ref steps);
        metrics.BatchSize.Observe(active.Count);
        metrics.TokenLatency.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        RemoveFinished(active, cache, cancelledOnly: false);
    }

    void AcceptAndTime(DecodingSlot slot, long id, TokenLogprob? logprob)
    {
        if (!slot.HasFirstToken) metrics.TimeToFirstToken.Observe(Stopwatch.GetElapsedTime(slot.Job.EnqueuedAtTicks).TotalSeconds);
        slot.Accept(id, logprob);
    }

    // The sampled token's log-probability (and the top alternatives) under the model, for jobs that asked. logits: (A, V).
    static TokenLogprob? LogprobOf(Tensor logits, int row, DecodingSlot slot, long id) =>
        slot.Job.Extras.TopLogprobs is { } top ? Logprobs.Of(logits.narrow(0, row, 1), [(int)id], top)[0] : null;

    // logits (A, V) plus each row's logit_bias; the same tensor when no row has one.
    static Tensor Biased(Tensor logits, IReadOnlyList<DecodingSlot> slots)
    {
        if (slots.All(s => s.Job.Extras.LogitBias is not { Count: > 0 })) return logits;
        var vocab = (int)logits.shape[1];
        var bias = new float[slots.Count * vocab];
        for (var r = 0; r < slots.Count; r++)
            foreach (var (id, value) in slots[r].Job.Extras.LogitBias ?? new Dictionary<int, float>())
                if (id >= 0 && id < vocab) bias[r * vocab + id] = value;
        return logits + tensor(bias, device: logits.device).view(slots.Count, vocab).to(logits.dtype);
    }

    // Picks one token per row; rows that share sampling settings and no private seed are sampled in one call.
    static long[] Sample(Tensor logits, IReadOnlyList<DecodingSlot> slots)
    {
        var first = slots[0].Job.Sampling;
        var shared = slots.All(s => s.Generator is null && SameSampling(s.Job.Sampling, first));
        if (shared) return TokenSampler.SampleIds(logits, first, null);
        var picked = new long[slots.Count];
        for (var r = 0; r < slots.Count; r++)
            picked[r] = TokenSampler.Sample(logits.narrow(0, r, 1), slots[r].Job.Sampling, slots[r].Generator).cpu().item<long>();
        return picked;
    }

    static bool SameSampling(SamplingOptions a, SamplingOptions b) => a.Temperature == b.Temperature && a.TopK == b.TopK && a.TopP == b.TopP;

    // Completes and removes finished (or cancelled) rows, moving the last row into each hole to keep rows compact.
    void RemoveFinished(List<DecodingSlot> active, IDecodeSession cache, bool cancelledOnly)
    {
        for (var r = active.Count - 1; r >= 0; r--)
        {
            var slot = active[r];
            var cancelled = slot.Job.Cancel.IsCancellationRequested;
            if (cancelled && slot.FinishReason is null) slot.End(FinishReason.Cancelled);
            if (slot.FinishReason is null || (cancelledOnly && !cancelled)) continue;

            var last = active.Count - 1;
            if (r != last) { cache.CopyRow(last, r); active[r] = active[last]; }
            active.RemoveAt(last);
            if (cancelled)
            {
                // The cancellation callback may not have stamped its time yet when the token already reads cancelled.
                var since = slot.Job.CancelledAtTicks == 0 ? 0 : Stopwatch.GetElapsedTime(slot.Job.CancelledAtTicks).TotalMilliseconds;
                var record = new CancellationRecord(since, slot.StepsAfterCancel);
                cancellations.Enqueue(record);
                while (cancellations.Count > 256) cancellations.TryDequeue(out var _);
                metrics.CancelToFree.Observe(record.Milliseconds / 1000);
            }
            var result = slot.Result();
            metrics.AddCompletionTokens(result.CompletionTokens);
            slot.Job.Complete(result);
            slot.Dispose();
        }
        ActiveSequences = active.Count;
        metrics.SetActiveSequences(active.Count);
    }

    public void Dispose() => stopping.Dispose();
}
