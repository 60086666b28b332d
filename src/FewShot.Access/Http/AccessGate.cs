using FewShot.Serving.Api;
using System.Globalization;
using System.Threading.RateLimiting;
using FewShot.Access.Budgets;
using FewShot.Access.Keys;
using FewShot.Access.Limits;
using FewShot.Access.Storage;
using FewShot.Serving.Pipeline;
using Microsoft.AspNetCore.Http;

namespace FewShot.Access.Http;

/// <summary>
/// The server's admission check for each generation, after the middleware has authenticated the key: allowed model and
/// mode, the key's max_tokens and prompt caps, its requests and tokens per minute, then a reservation of the worst-case
/// tokens against the key's budget and the service's balance, then a slot under the global concurrency cap.
/// </summary>
public sealed class AccessGate(AccessRuntime access) : IGenerationGate
{
    public async ValueTask<GateDecision> AdmitAsync(HttpContext http, GenerationRequestInfo request, CancellationToken cancel)
    {
        if (http.Features.Get<AccessPrincipal>() is not { } principal)
            return Reject("missing_key", 401, ErrorTypes.InvalidRequest, "invalid_api_key",
                "Missing API key: send it in the Authorization header as 'Bearer YOUR_KEY'.");
        var key = principal.Key;

        if (!key.AllowsModel(request.Model))
            return Reject("model_not_allowed", 403, ErrorTypes.InvalidRequest, "model_not_allowed", $"This key may not use the model '{request.Model}'.");
        if (!key.AllowsMode(request.Mode))
            return Reject("mode_not_allowed", 403, ErrorTypes.InvalidRequest, "mode_not_allowed", $"This key may not use the mode '{request.Mode}'.");
        if (key.Limits.MaxTokens is { } cap && request.MaxTokens > cap)
            return Reject("max_tokens_exceeded", 400, ErrorTypes.InvalidRequest, "max_tokens_exceeded",
                $"max_tokens {request.MaxTokens} exceeds this key's cap of {cap}.");
        if (key.Limits.MaxPromptTokens is { } promptCap && request.PromptTokens > promptCap)
            return Reject("prompt_too_long", 400, ErrorTypes.InvalidRequest, "prompt_too_long",
                $"The prompt has {request.PromptTokens} tokens; this key allows at most {promptCap}.");

        var worst = request.WorstCaseTokens;
        var headers = new Dictionary<string, string>();
        if (access.Limits.CheckKeyRequests(key) is { } requests)
        {
            AddHeaders(headers, "requests", requests);
            if (!requests.Passed)
                return Reject("key_rate_limited_requests", 429, ErrorTypes.RateLimit, "rate_limit_exceeded",
                    $"Rate limit reached for requests: {requests.Limit} per minute. Try again in {Durations.Format(requests.Reset)}.", Retry(headers, requests.Reset));
        }
        if (access.Limits.CheckKeyTokens(key, worst) is { } tokens)
        {
            AddHeaders(headers, "tokens", tokens);
            if (!tokens.Passed)
                return Reject("key_rate_limited_tokens", 429, ErrorTypes.RateLimit, "rate_limit_exceeded",
                    $"Rate limit reached for tokens: {tokens.Limit} per minute, this request may use {worst}. Try again in {Durations.Format(tokens.Reset)}.",
                    Retry(headers, tokens.Reset));
        }

        var (reservation, shortfall) = await access.Budgets.TryReserveAsync(key, worst, request.WorstCaseMicros, cancel);
        if (shortfall is not null)
        {
            var resets = shortfall.ResetsAt is { } r ? $"It resets at {r:yyyy-MM-dd HH:mm:ss} UTC." : "It does not reset.";
            if (shortfall.ResetsAt is { } at)
            {
                headers["Retry-After"] = AccessMiddleware.Seconds(at - access.Options.Time.GetUtcNow());
                headers["x-quota-reset"] = at.ToString("O", CultureInfo.InvariantCulture);
            }
            var (left, budget, need) = shortfall.IsMoney
                ? (Usd(shortfall.Remaining), Usd(shortfall.Budget), $"may cost {Usd(request.WorstCaseMicros)}")
                : ($"{shortfall.Remaining}", $"{shortfall.Budget}", $"may use {worst}");
            var unit = shortfall.IsMoney ? "" : " tokens";
            return shortfall.IsGlobal
                ? Reject("global_quota", 429, ErrorTypes.Quota, "insufficient_quota",
                    $"The service's daily {(shortfall.IsMoney ? "" : "token ")}balance is spent ({left} of {budget} left, this request {need}). {resets}", headers)
                : Reject("key_quota", 429, ErrorTypes.Quota, "insufficient_quota",
                    $"You exceeded your {(shortfall.IsMoney ? "" : "token ")}budget: {left} of {budget}{unit} left, this request {need}. {resets}", headers);
        }

        var slot = await access.Limits.Concurrency.AcquireAsync(1, cancel);
        if (!slot.IsAcquired)
        {
            slot.Dispose();
            access.Budgets.Settle(reservation!, null);
            return Reject("busy", 429, ErrorTypes.RateLimit, "rate_limit_exceeded",
                "The server is at its limit of concurrent generations; try again shortly.", new Dictionary<string, string> { ["Retry-After"] = "1" });
        }

        foreach (var (name, value) in headers) http.Response.Headers[name] = value;
        access.Metrics.Admit();
        return new GateDecision.Admitted(new Lease(access.Budgets, reservation!, slot, request.Model, request.Price));
    }

    static string Usd(long micros) => "$" + (micros / 1_000_000m).ToString("0.######", CultureInfo.InvariantCulture);

    GateDecision Reject(string reason, int status, string type, string code, string message, IReadOnlyDictionary<string, string>? headers = null)
    {
        access.Metrics.Reject(reason);
        return new GateDecision.Rejected(new ApiException(status, type, message, null, code, headers));
    }

    static Dictionary<string, string> Retry(Dictionary<string, string> headers, TimeSpan reset)
    {
        headers["Retry-After"] = AccessMiddleware.Seconds(reset);
        return headers;
    }

    static void AddHeaders(Dictionary<string, string> headers, string kind, LimitCheck check)
    {
        headers[$"x-ratelimit-limit-{kind}"] = check.Limit.ToString(CultureInfo.InvariantCulture);
        headers[$"x-ratelimit-remaining-{kind}"] = Math.Max(0, check.Remaining).ToString(CultureInfo.InvariantCulture);
        headers[$"x-ratelimit-reset-{kind}"] = Durations.Format(check.Reset);
    }

    /// <summary>Holds the reservation and the concurrency slot; charges what was used and frees both on dispose.</summary>
    sealed class Lease(BudgetLedger budgets, BudgetLedger.Reservation reservation, RateLimitLease slot, string model, TokenPrice? price) : IGenerationLease
    {
        long prompt, completion;
        string? upstream;
        bool estimated;

        public void ChargeUpstream(string name, int promptTokens, int completionTokens, bool isEstimate)
        {
            Volatile.Write(ref upstream, name);
            if (isEstimate) Volatile.Write(ref estimated, true);
            Charge(promptTokens, completionTokens);
        }

        public void Charge(int promptTokens, int completionTokens)
        {
            if (promptTokens < 0 || completionTokens < 0) throw new ArgumentOutOfRangeException(nameof(promptTokens), "token counts cannot be negative");
            Interlocked.Add(ref prompt, promptTokens);
            Interlocked.Add(ref completion, completionTokens);
        }

        public ValueTask DisposeAsync()
        {
            try
            {
                var (p, c) = (Interlocked.Read(ref prompt), Interlocked.Read(ref completion));
                budgets.Settle(reservation, new UsageRecord(reservation.KeyId, reservation.At, model, (int)Math.Min(p, int.MaxValue), (int)Math.Min(c, int.MaxValue),
                    price?.Micros(p, c) ?? 0, Volatile.Read(ref upstream), Volatile.Read(ref estimated)));
            }
            finally { slot.Dispose(); }
            return ValueTask.CompletedTask;
        }
    }
}
