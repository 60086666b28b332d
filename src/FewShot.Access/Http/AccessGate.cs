using FewShot.Serving.Api;
using System.Globalization;
using System.Threading.RateLimiting;
using FewShot.Access.Budgets;
using FewShot.Access.Keys;
using FewShot.Access.Limits;
using FewShot.Access.Storage;
using FewShot.Serving.Pipeline;
using Microsoft.AspNetCore.Http;
using StackExchange.Redis;

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

        if (access.Budgets.StoreUnavailable)
        {
            // PostgreSQL is away: nothing new is admitted; requests already running settle into the outbox.
            access.Metrics.Reject("store_unavailable");
            return new GateDecision.Rejected(AccessMiddleware.Unavailable("its ledger"));
        }
        var worst = request.WorstCaseTokens;
        // The caller's address, when the middleware left it to this admission (shared limits, a generation route).
        var address = http.Features.Get<PendingAddressCheck>() is { Done: false } pending ? pending : null;
        if (access.Shared is { } shared)
        {
            try { return await AdmitSharedAsync(shared, http, key, request, address); }
            catch (Exception e) when (RedisAdmission.IsUnavailable(e) && access.Options.LimitsFail != "open")
            {
                access.Metrics.Reject("limits_unavailable");
                return new GateDecision.Rejected(AccessMiddleware.Unavailable("its limits"));
            }
            catch (Exception e) when (RedisAdmission.IsUnavailable(e))
            {
                access.Metrics.Reject("limits_unavailable_fail_open");  // counted, then admitted on this instance's own limits below
            }
        }
        if (address is { Done: false })
        {
            address.Done = true;
            if (access.Addresses.Refusal(address.Ip, access.Addresses.CheckLocally(address.Ip, countRequest: true, countFailure: false)) is { } refused)
                return new GateDecision.Rejected(refused);
        }
        var headers = new Dictionary<string, string>();
        if (access.Limits.CheckKeyRequests(key) is { } requests && RateRefusal(headers, "requests", requests, worst) is { } r) return r;
        if (access.Limits.CheckKeyTokens(key, worst) is { } tokens && RateRefusal(headers, "tokens", tokens, worst) is { } t) return t;

        var (reservation, shortfall) = await access.Budgets.TryReserveAsync(key, worst, request.WorstCaseMicros, cancel);
        if (shortfall is not null) return BudgetRefusal(shortfall, headers, request);

        var slot = await access.Limits.Concurrency.AcquireAsync(1, cancel);
        if (!slot.IsAcquired)
        {
            slot.Dispose();
            access.Budgets.Settle(reservation!, null);
            return Busy();
        }

        foreach (var (name, value) in headers) http.Response.Headers[name] = value;
        access.Metrics.Admit();
        return new GateDecision.Admitted(new Lease(usage =>
        {
            access.Budgets.Settle(reservation!, usage with { At = reservation!.At, RequestId = reservation.RequestId });
            return ValueTask.CompletedTask;
        }, key.Id, slot, request.Model, request.Price));
    }

    /// <summary>
    /// The same checks in one Redis script shared by every instance, the concurrency cap included (a full cap refuses at
    /// once rather than queueing), and the caller's lockout and requests per minute when the middleware left them to it
    /// (<paramref name="address"/>); this instance's own limiter still queues what it runs itself.
    /// </summary>
    async Task<GateDecision> AdmitSharedAsync(RedisAdmission shared, HttpContext http, KeyRecord key, GenerationRequestInfo request,
        PendingAddressCheck? address)
    {
        var headers = new Dictionary<string, string>();
        var worst = request.WorstCaseTokens;
        var (grant, refusal) = await shared.TryAdmitAsync(key, worst, request.WorstCaseMicros, address?.Ip);
        if (address is not null)
        {
            address.Done = true;
            if (access.Addresses.AdmissionRefusal(address.Ip, refusal) is { } refusedAddress) return new GateDecision.Rejected(refusedAddress);
        }
        if (refusal is { Kind: "busy" }) return Busy();
        if (refusal is { Kind: "warming" })
        {
            access.Metrics.Reject("limits_warming_up");
            return new GateDecision.Rejected(AccessMiddleware.Unavailable("its limits", refusal.Reset));
        }
        if (refusal is { Kind: "requests" or "tokens" })
            return RateRefusal(headers, refusal.Kind, new LimitCheck(false, refusal.Limit, refusal.Remaining, refusal.Reset), worst)!;
        if (refusal is not null)
            return BudgetRefusal(new BudgetLedger.Shortfall(refusal.Kind.StartsWith("global", StringComparison.Ordinal), refusal.Limit, refusal.Remaining,
                refusal.BudgetResets, IsMoney: refusal.Kind.EndsWith("money", StringComparison.Ordinal)), headers, request);

        var slot = await access.Limits.Concurrency.AcquireAsync(1, http.RequestAborted);
        if (!slot.IsAcquired)
        {
            slot.Dispose();
            await shared.SettleAsync(grant!, 0, 0);
            return Busy();
        }
        access.Metrics.Admit();
        var renew = new Timer(_ => _ = shared.RenewAsync(grant!).ContinueWith(t => _ = t.Exception, TaskScheduler.Default), null,
            shared.LeaseTime / 3, shared.LeaseTime / 3);
        return new GateDecision.Admitted(new Lease(usage =>
        {
            // A server that reports more than the worst case it asked for is charged the worst case (the budget is a promise).
            usage = usage with { At = grant!.At, RequestId = grant.RequestId, PromptTokens = (int)Math.Min(usage.PromptTokens, grant.Tokens) };
            usage = usage with { CompletionTokens = (int)Math.Min(usage.CompletionTokens, grant.Tokens - usage.PromptTokens), CostMicros = Math.Min(usage.CostMicros, grant.Micros) };
            // The generation is over: its place under the shared concurrency cap is given back now (sent, not awaited), not
            // when the settlement below is made.
            shared.ReleaseSlot(grant);
            // Settled behind the response rather than before it, so that no client waits for the outbox's fsync (up to
            // 150 ms at the 99th percentile on a busy shared disk). The order that keeps the accounts right is unchanged
            // (SettleAsync). Until the settlement is made the lease keeps the request's whole worst case reserved in Redis,
            // so no admission on any instance can spend what it may have used: nothing is overspent. Should the instance
            // die in between, the lease expires; a row not yet durable leaves the request uncharged (in the client's
            // favour, as when an instance dies mid-stream), and one already durable reaches the ledger at the next start,
            // its charge in Redis restored by `usage --reconcile`, as before this ran behind the response. Nothing is
            // counted twice. Shutdown waits for the settlements under way (AccessRuntime.DisposeAsync).
            access.Settlements.Start(SettleAsync(shared, grant, renew, usage));
            return ValueTask.CompletedTask;
        }, key.Id, slot, request.Model, request.Price));
    }

    /// <summary>
    /// The ledger row first, durable in the outbox (it survives a Redis outage and a crash), then the charge in Redis that
    /// every instance's next admission sees (made when Redis is back, if it is away), and only then the row on to
    /// PostgreSQL: an account that Redis starts from the ledger meanwhile can neither miss the request nor count it twice.
    /// </summary>
    async Task SettleAsync(RedisAdmission shared, RedisAdmission.Grant grant, Timer renew, UsageRecord usage)
    {
        var recorded = usage.Total > 0 || usage.CostMicros > 0;
        // Handed to the outbox before the first await, so that a flush of the ledger after the response includes it.
        var durable = recorded ? access.Budgets.RecordAsync(usage, held: true) : Task.CompletedTask;
        await renew.DisposeAsync();
        await durable;
        if (!await shared.SettleAsync(grant, usage.Total, usage.CostMicros, recorded ? () => access.Budgets.Release(grant.RequestId) : null))
            access.Metrics.Reject("settle_deferred");
    }

    GateDecision? RateRefusal(Dictionary<string, string> headers, string kind, LimitCheck check, long worst)
    {
        AddHeaders(headers, kind, check);
        if (check.Passed) return null;
        return kind == "requests"
            ? Reject("key_rate_limited_requests", 429, ErrorTypes.RateLimit, "rate_limit_exceeded",
                $"Rate limit reached for requests: {check.Limit} per minute. Try again in {Durations.Format(check.Reset)}.", Retry(headers, check.Reset))
            : Reject("key_rate_limited_tokens", 429, ErrorTypes.RateLimit, "rate_limit_exceeded",
                $"Rate limit reached for tokens: {check.Limit} per minute, this request may use {worst}. Try again in {Durations.Format(check.Reset)}.",
                Retry(headers, check.Reset));
    }

    GateDecision BudgetRefusal(BudgetLedger.Shortfall shortfall, Dictionary<string, string> headers, GenerationRequestInfo request)
    {
        var worst = request.WorstCaseTokens;
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

    GateDecision Busy() => Reject("busy", 429, ErrorTypes.RateLimit, "rate_limit_exceeded",
        "The server is at its limit of concurrent generations; try again shortly.", new Dictionary<string, string> { ["Retry-After"] = "1" });

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

    /// <summary>Holds the reservation and the concurrency slot; on dispose hands what was used to <paramref name="settle"/> and frees the slot.</summary>
    sealed class Lease(Func<UsageRecord, ValueTask> settle, string keyId, RateLimitLease slot, string model, TokenPrice? price) : IGenerationLease
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

        public async ValueTask DisposeAsync()
        {
            try
            {
                var (p, c) = (Interlocked.Read(ref prompt), Interlocked.Read(ref completion));
                await settle(new UsageRecord(keyId, default, model, (int)Math.Min(p, int.MaxValue), (int)Math.Min(c, int.MaxValue),
                    price?.Micros(p, c) ?? 0, Volatile.Read(ref upstream), Volatile.Read(ref estimated)));
            }
            finally { slot.Dispose(); }
        }
    }
}
