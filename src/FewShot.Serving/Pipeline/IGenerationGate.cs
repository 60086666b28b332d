using FewShot.Serving.Api;
using Microsoft.AspNetCore.Http;

namespace FewShot.Serving.Pipeline;

/// <summary>
/// The seam between the API and access control. Every generation request, once parsed and tokenized and before it is
/// queued for the model, asks the gate for admission. The gate may authenticate, check budgets and rate limits, and
/// reserve tokens; the returned lease is charged with what was actually used and then disposed (releasing the rest).
/// The server registers an open gate by default; the access library replaces it.
/// </summary>
public interface IGenerationGate
{
    ValueTask<GateDecision> AdmitAsync(HttpContext http, GenerationRequestInfo request, CancellationToken cancel);
}

/// <summary>
/// Endpoint metadata: every request to the endpoint that gets past its parsing asks <see cref="IGenerationGate"/> for
/// admission with its own HttpContext. Access control may then make the per-request checks of the caller inside that
/// one admission rather than before the route runs (with shared limits: one round trip to Redis instead of two).
/// </summary>
public sealed class AdmittedThroughGate
{
    public static readonly AdmittedThroughGate Instance = new();
    AdmittedThroughGate() { }
}

/// <summary>
/// What a request asks for: the model, the chat mode (null for plain completions), and its worst-case token cost.
/// <see cref="Price"/> is the model's price (null: free, counted in tokens only).
/// </summary>
public sealed record GenerationRequestInfo(string Model, string? Mode, int PromptTokens, int MaxTokens, int Choices, TokenPrice? Price = null)
{
    /// <summary>The most this request can cost: its prompt once per choice plus max_tokens per choice.</summary>
    public long WorstCaseTokens => (long)Choices * (PromptTokens + MaxTokens);

    /// <summary>The most this request can cost in micro-dollars (0 for a free model).</summary>
    public long WorstCaseMicros => Price?.Micros((long)Choices * PromptTokens, (long)Choices * MaxTokens) ?? 0;
}

/// <summary>A model's price in dollars per 1,000 prompt and completion tokens.</summary>
public sealed record TokenPrice(decimal PromptPer1K, decimal CompletionPer1K)
{
    /// <summary>What the tokens cost, in micro-dollars, rounded up (so many small requests never cost less than their sum).</summary>
    public long Micros(long promptTokens, long completionTokens) =>
        (long)Math.Ceiling((promptTokens * PromptPer1K + completionTokens * CompletionPer1K) * 1000m);

    public bool IsFree => PromptPer1K == 0 && CompletionPer1K == 0;
}

/// <summary>Admission result: a lease, or a rejection in OpenAI's error vocabulary.</summary>
public abstract record GateDecision
{
    public sealed record Admitted(IGenerationLease Lease) : GateDecision;

    /// <summary>Rejected with the error to answer (status, OpenAI type and code, message, headers such as Retry-After).</summary>
    public sealed record Rejected(ApiException Error) : GateDecision;
}

/// <summary>A reservation made at admission. Charge what the request used, then dispose to release the remainder.</summary>
public interface IGenerationLease : IAsyncDisposable
{
    void Charge(int promptTokens, int completionTokens);

    /// <summary>
    /// Charges usage that an upstream model server produced: <paramref name="upstream"/> names it in the ledger, and
    /// <paramref name="estimated"/> says the counts came from our tokenizer because the upstream reported none.
    /// </summary>
    void ChargeUpstream(string upstream, int promptTokens, int completionTokens, bool estimated) => Charge(promptTokens, completionTokens);
}

/// <summary>The default gate: admits everyone and charges nothing (local use, or <c>fewshot serve --open</c>).</summary>
public sealed class OpenGate : IGenerationGate
{
    public ValueTask<GateDecision> AdmitAsync(HttpContext http, GenerationRequestInfo request, CancellationToken cancel) =>
        ValueTask.FromResult<GateDecision>(new GateDecision.Admitted(NoLease.Instance));

    sealed class NoLease : IGenerationLease
    {
        public static readonly NoLease Instance = new();
        public void Charge(int promptTokens, int completionTokens) { }
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
