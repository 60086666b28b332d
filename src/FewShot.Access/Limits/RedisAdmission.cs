using FewShot.Access.Budgets;
using FewShot.Access.Keys;
using FewShot.Access.Storage;
using System.Collections.Concurrent;
using StackExchange.Redis;

namespace FewShot.Access.Limits;

/// <summary>
/// Admission shared by every instance on one Redis (--limits redis://...): one Lua script per request checks the key's
/// requests and tokens per minute, the key's budget, the service's balance (tokens and money) and its concurrency cap,
/// and reserves all of them, or nothing; for a generation the caller's address (its lockout and requests per minute) is
/// checked by the same script. Other requests to a keyed path, and failed authentications, go through one firewall script
/// (the address's lockout and rate; failures count towards a lockout in Redis, so every instance sees it). A reservation is a lease (a member of the account's lease set, scored by its expiry): renewed while
/// the request runs, released by whoever next touches the account once it expires, so an instance that dies gives its
/// reservations back by itself. Settling is once per request id. Accounts start from the ledger's sums (the store).
/// </summary>
public sealed class RedisAdmission : IAsyncDisposable
{
    readonly ConnectionMultiplexer redis;
    readonly IAccessStore store;
    readonly AccessOptions options;
    readonly long? globalTokens, globalMicros;
    /// <summary>This instance's requests that hold a reservation, renewed while they run (and put back should Redis lose them).</summary>
    readonly ConcurrentDictionary<string, Grant> live = new();
    /// <summary>Settlements made while Redis was away, in order, and the one pass at a time that makes them once it is back.</summary>
    readonly ConcurrentQueue<Settlement> deferred = new();
    readonly SemaphoreSlim catchingUp = new(1, 1);
    readonly Timer catchUp;

    public TimeSpan LeaseTime => options.LeaseTime;

    RedisAdmission(ConnectionMultiplexer redis, IAccessStore store, AccessOptions options, long? globalMicros)
    {
        (this.redis, this.store, this.options, globalTokens, this.globalMicros) = (redis, store, options, options.GlobalDailyBudgetTokens, globalMicros);
        // Back from an outage (perhaps a restart that lost every reservation): put this instance's running requests back now,
        // within the warm-up in which no instance admits anything new.
        redis.ConnectionRestored += (_, _) => _ = Task.Run(CatchUpAsync);
        catchUp = new Timer(_ => _ = Task.Run(SettleDeferredAsync), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        // A Redis that already has the epoch keeps it; a fresh one seen at start needs no warm-up (nothing of ours ran on it).
        try { if (redis.IsConnected) redis.GetDatabase().StringSet(Epoch, 0, when: When.NotExists); }
        catch (Exception e) when (IsUnavailable(e)) { }
    }

    /// <summary>Back from an outage: running requests' reservations put back, then the settlements that waited, in order.</summary>
    async Task CatchUpAsync()
    {
        foreach (var grant in live.Values)
            try { await RenewAsync(grant); }
            catch (Exception e) when (IsUnavailable(e) || StoreErrors.IsUnavailable(e)) { }
        await SettleDeferredAsync();
    }

    /// <summary>How long admissions wait after Redis lost its data: one renewal period and a second, so every running request is back.</summary>
    TimeSpan WarmUp => LeaseTime / 3 + TimeSpan.FromSeconds(1);

    TimeProvider Time => options.Time;

    /// <summary>Connects (and keeps reconnecting in the background); an unreachable Redis at start is not an error, requests then get 503.</summary>
    public static RedisAdmission Connect(LimitsLocation location, IAccessStore store, AccessOptions options, long? globalMicros)
    {
        var configuration = location.Redis!.Clone();
        configuration.AbortOnConnectFail = false;
        return new RedisAdmission(ConnectionMultiplexer.Connect(configuration), store, options, globalMicros);
    }

    /// <summary>
    /// Refuses a Redis that answers but does not run scripts (EVAL or EVALSHA disabled or renamed) with an
    /// <see cref="InvalidDataException"/> whose one line names it; called at start, before the store is opened or written.
    /// An unreachable Redis passes: the server starts and answers 503 until Redis is there.
    /// </summary>
    public static void CheckScripting(LimitsLocation location)
    {
        var configuration = location.Redis!.Clone();
        configuration.AbortOnConnectFail = false;
        using var redis = ConnectionMultiplexer.Connect(configuration);
        if (!redis.IsConnected) return;
        try
        {
            var database = redis.GetDatabase();
            database.Execute("EVAL", "return 1", 0);
            var sha = (string)database.Execute("SCRIPT", "LOAD", "return 1")!;
            database.Execute("EVALSHA", sha, 0);
        }
        catch (RedisServerException e)
        {
            throw new InvalidDataException($"Access:Limits: the Redis at {configuration.EndPoints[0]} does not run scripts ({e.Message.Split('\n')[0]}); " +
                "shared limits need EVAL, EVALSHA and SCRIPT LOAD");
        }
        catch (Exception e) when (IsUnavailable(e)) { }  // gone again: requests get 503 until it is back
    }

    public async ValueTask DisposeAsync()
    {
        await catchUp.DisposeAsync();
        await SettleDeferredAsync();
        await redis.DisposeAsync();
    }

    /// <summary>Redis could not be reached or did not answer in time (what fail closed / fail open is about).</summary>
    public static bool IsUnavailable(Exception e) => e is RedisException or TimeoutException;

    /// <summary>
    /// The address's lockout and requests per minute, counted across instances (<paramref name="countRequest"/>: this
    /// request counts towards its rate), and a failed authentication counted towards a lockout (<paramref name="countFailure"/>):
    /// for requests that the admission does not check (not a generation, or a key that failed), in one round trip.
    /// </summary>
    public async Task<AddressCheck> CheckAddressAsync(string ip, bool countRequest, bool countFailure)
    {
        var (o, rpm) = (options, options.IpRequestsPerMinute);
        var result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(AdmissionScripts.Address,
            [Address("lock", ip), Address("ip-rpm", ip), Address("fail", ip), Address("strikes", ip)],
            [
                rpm, countRequest ? 1 : 0, countFailure ? 1 : 0, o.LockoutThreshold, (long)o.LockoutWindow.TotalMilliseconds,
                (long)o.LockoutFirst.TotalMilliseconds, o.LockoutFactor, (long)o.LockoutMax.TotalMilliseconds,
            ]))!;
        return (long)result[0] switch
        {
            1 => new AddressCheck(DateTimeOffset.FromUnixTimeMilliseconds((long)result[1]), default),
            2 => new AddressCheck(null, new LimitCheck(false, rpm, 0, TimeSpan.FromMilliseconds((long)result[2]))),
            _ => new AddressCheck(null, new LimitCheck(true, rpm, (long)result[1], TimeSpan.FromMilliseconds((long)result[2])),
                (long)result[3] == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)result[3])),
        };
    }

    /// <summary>A granted reservation: the lease members to renew and settle, and what was reserved.</summary>
    public sealed record Grant(string RequestId, string KeyId, DateTimeOffset At, long Tokens, long Micros, RedisKey? KeyAccount, RedisKey? GlobalAccount)
    {
        /// <summary>Where the key's budget period starts (the ledger's sum from here starts its account).</summary>
        internal DateTimeOffset KeyPeriodStart { get; init; }
        internal string Member => $"{RequestId}|{Tokens}|{Micros}";
        internal int settled;
    }

    /// <summary>
    /// Why a request was refused: the caller's address (address_locked, address_requests), a rate (requests or tokens per
    /// minute), a budget (key or global, tokens or money), the concurrency cap (busy) or a Redis warming up.
    /// </summary>
    public sealed record Refusal(string Kind, long Limit, long Remaining, TimeSpan Reset, DateTimeOffset? BudgetResets);

    /// <summary>
    /// Checks and reserves everything in one script; <paramref name="address"/> (null: checked before) adds the caller's
    /// lockout and requests per minute to the same script, so that a generation costs one round trip.
    /// </summary>
    public async Task<(Grant? Grant, Refusal? Refusal)> TryAdmitAsync(KeyRecord key, long tokens, long micros, string? address = null)
    {
        var now = Time.GetUtcNow();
        var (keyBudget, keyMicros) = (key.Limits.BudgetTokens, key.Limits.BudgetMicros);
        var keyStart = BudgetPeriods.Start(key.Limits.Period, now);
        var dayStart = BudgetPeriods.Start(BudgetPeriod.Day, now);
        RedisKey? keyAccount = keyBudget is null && keyMicros is null ? null : (RedisKey?)Account(key.Id, keyStart);
        RedisKey? globalAccount = globalTokens is null && globalMicros is null ? null : (RedisKey?)Account(BudgetLedger.GlobalAccount, dayStart);
        var requestId = Guid.NewGuid().ToString("N");
        var database = redis.GetDatabase();
        for (var attempt = 0; ; attempt++)
        {
            var result = (RedisResult[])(await database.ScriptEvaluateAsync(AdmissionScripts.Admit,
                [
                    keyAccount ?? "-", Leases(keyAccount), globalAccount ?? "-", Leases(globalAccount),
                    "fewshot:rpm:" + key.Id, "fewshot:tpm:" + key.Id, InFlight, Epoch,
                    address is null ? "-" : Address("lock", address), address is null ? "-" : Address("ip-rpm", address),
                ],
                [
                    requestId, tokens, micros, keyBudget ?? -1, keyMicros ?? -1, globalTokens ?? -1, globalMicros ?? -1,
                    key.Limits.RequestsPerMinute ?? -1, key.Limits.TokensPerMinute ?? -1, (long)LeaseTime.TotalMilliseconds,
                    AccountLifetime, options.MaxConcurrentGenerations, (long)WarmUp.TotalMilliseconds, options.IpRequestsPerMinute,
                ]))!;
            var code = (long)result[0];
            if (code == -1 && attempt < 3)
            {
                await OpenAsync(database, (long)result[1] == 2 ? null : key.Id, keyStart, now);
                continue;
            }
            if (code == 0)
            {
                var grant = new Grant(requestId, key.Id, now, tokens, micros, keyAccount, globalAccount) { KeyPeriodStart = keyStart };
                live[requestId] = grant;
                return (grant, null);
            }
            var (limit, remaining, reset) = ((long)result[2], (long)result[3], TimeSpan.FromMilliseconds((long)result[4]));
            var kind = (string)result[1]!;
            var resets = kind.StartsWith("global", StringComparison.Ordinal) ? BudgetPeriods.End(BudgetPeriod.Day, now) : BudgetPeriods.End(key.Limits.Period, now);
            return (null, new Refusal(kind, limit, remaining, reset, resets));
        }
    }

    /// <summary>An account not yet in Redis this period: start it from the ledger's sums (the first instance to do so wins).</summary>
    async Task OpenAsync(IDatabase database, string? keyId, DateTimeOffset keyStart, DateTimeOffset now)
    {
        var since = keyId is null ? BudgetPeriods.Start(BudgetPeriod.Day, now) : keyStart;
        var used = await store.SumUsageAsync(keyId, since);
        var usedMicros = await store.SumCostAsync(keyId, since);
        await database.ScriptEvaluateAsync(AdmissionScripts.Open, [Account(keyId ?? BudgetLedger.GlobalAccount, since)], [used, usedMicros, AccountLifetime]);
    }

    /// <summary>
    /// Moves the lease's expiry on (called while the request runs); a lease Redis no longer has (it restarted, or the lease
    /// lapsed while this instance stalled) is reserved again. Returns true when it had to be.
    /// </summary>
    public async Task<bool> RenewAsync(Grant grant)
    {
        var database = redis.GetDatabase();
        for (var attempt = 0; ; attempt++)
        {
            var result = (long[])(await database.ScriptEvaluateAsync(AdmissionScripts.Renew,
                [
                    grant.KeyAccount ?? "-", Leases(grant.KeyAccount), grant.GlobalAccount ?? "-", Leases(grant.GlobalAccount),
                    InFlight, "fewshot:settled:" + grant.RequestId,
                ],
                [
                    grant.Member, grant.Tokens, grant.Micros, (long)LeaseTime.TotalMilliseconds, grant.RequestId,
                    grant.KeyAccount is null ? 0 : 1, grant.GlobalAccount is null ? 0 : 1, AccountLifetime,
                ]))!;
            if (result[0] != -1 || attempt >= 3) return result[0] == 1;
            await OpenAsync(database, result[1] == 2 ? null : grant.KeyId, grant.KeyPeriodStart, grant.At);
        }
    }

    /// <summary>
    /// Gives the request's place under the concurrency cap back at once, without waiting for Redis's answer; the
    /// settlement takes it out too (should this be lost with Redis away), and an unsettled one expires with its lease.
    /// </summary>
    public void ReleaseSlot(Grant grant)
    {
        try { redis.GetDatabase().SortedSetRemove(InFlight, grant.RequestId, CommandFlags.FireAndForget); }
        catch (Exception e) when (IsUnavailable(e)) { }
    }

    /// <summary>
    /// Releases the reservation and charges <paramref name="charged"/> (at most what was reserved); once per request id.
    /// While Redis is away the settlement waits in this instance and is made as soon as it is back (before the warm-up in
    /// which nothing new is admitted ends); <paramref name="settled"/> runs once it is made. Returns true when it was made now.
    /// </summary>
    public async Task<bool> SettleAsync(Grant grant, long charged, long chargedMicros, Action? settled = null)
    {
        if (Interlocked.Exchange(ref grant.settled, 1) != 0) return false;
        live.TryRemove(grant.RequestId, out _);
        var settlement = new Settlement(grant, Math.Min(charged, grant.Tokens), Math.Min(chargedMicros, grant.Micros), settled);
        try
        {
            var made = await SettleOnceAsync(settlement);
            settled?.Invoke();
            return made;
        }
        catch (Exception e) when (IsUnavailable(e) || StoreErrors.IsUnavailable(e))
        {
            deferred.Enqueue(settlement);
            return false;
        }
    }

    sealed record Settlement(Grant Grant, long Charged, long ChargedMicros, Action? Settled);

    /// <summary>Settlements that waited for Redis, in order; stops at the first that still cannot reach it.</summary>
    async Task SettleDeferredAsync()
    {
        if (deferred.IsEmpty || !await catchingUp.WaitAsync(0)) return;
        try
        {
            while (deferred.TryPeek(out var settlement))
            {
                try { await SettleOnceAsync(settlement); }
                catch (Exception e) when (IsUnavailable(e) || StoreErrors.IsUnavailable(e)) { return; }
                deferred.TryDequeue(out _);
                settlement.Settled?.Invoke();
            }
        }
        finally { catchingUp.Release(); }
    }

    async Task<bool> SettleOnceAsync(Settlement s)
    {
        var grant = s.Grant;
        var database = redis.GetDatabase();
        for (var attempt = 0; ; attempt++)
        {
            var result = await database.ScriptEvaluateAsync(AdmissionScripts.Settle,
                [
                    grant.KeyAccount ?? "-", Leases(grant.KeyAccount), grant.GlobalAccount ?? "-", Leases(grant.GlobalAccount),
                    "fewshot:settled:" + grant.RequestId, InFlight,
                ],
                [grant.Member, grant.Tokens, grant.Micros, s.Charged, s.ChargedMicros, grant.KeyAccount is null ? 0 : 1, grant.GlobalAccount is null ? 0 : 1,
                    grant.RequestId]);
            if (result.Resp2Type != ResultType.Array) return (long)result == 1;
            var missing = (long[])result!;
            if (attempt >= 3) throw new RedisException($"budget account {missing[1]} of request {grant.RequestId} cannot be started");
            await OpenAsync(database, missing[1] == 2 ? null : grant.KeyId, grant.KeyPeriodStart, grant.At);
        }
    }

    /// <summary>What a key has left this period in Redis's view (used + reserved by every instance); null: no budget or not started.</summary>
    public async Task<long?> RemainingAsync(KeyRecord key)
    {
        if (key.Limits.BudgetTokens is not { } budget) return null;
        var values = await redis.GetDatabase().HashGetAsync(Account(key.Id, BudgetPeriods.Start(key.Limits.Period, Time.GetUtcNow())), ["used", "reserved"]);
        return values[0].IsNull ? null : Math.Max(0, budget - (long)values[0] - (long)values[1]);
    }

    internal const string AccountPrefix = "fewshot:account:";
    internal static RedisKey Account(string id, DateTimeOffset start) => $"{AccountPrefix}{id}:{start.ToUnixTimeMilliseconds()}";
    /// <summary>The requests in flight on every instance (the concurrency cap), scored by their lease's expiry.</summary>
    static readonly RedisKey InFlight = "fewshot:inflight";
    /// <summary>When this Redis's data began (milliseconds in its clock; 0: before any instance ran on it).</summary>
    static readonly RedisKey Epoch = "fewshot:epoch";
    static readonly long AccountLifetime = (long)TimeSpan.FromDays(40).TotalMilliseconds;
    static RedisKey Address(string what, string ip) => $"fewshot:{what}:{ip}";
    internal static RedisKey Leases(RedisKey? account) => account is { } a ? a.Append(":leases") : "-";
}
