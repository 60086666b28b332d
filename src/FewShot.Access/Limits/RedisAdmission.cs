using FewShot.Access.Budgets;
using FewShot.Access.Keys;
using FewShot.Access.Storage;
using StackExchange.Redis;

namespace FewShot.Access.Limits;

/// <summary>
/// Admission shared by every instance on one Redis (--limits redis://...): one Lua script per request checks the key's
/// requests and tokens per minute, the key's budget and the service's balance (tokens and money) and reserves all of
/// them, or nothing. A reservation is a lease (a member of the account's lease set, scored by its expiry): renewed while
/// the request runs, released by whoever next touches the account once it expires, so an instance that dies gives its
/// reservations back by itself. Settling is once per request id. Accounts start from the ledger's sums (the store).
/// </summary>
public sealed class RedisAdmission : IAsyncDisposable
{
    readonly ConnectionMultiplexer redis;
    readonly IAccessStore store;
    readonly TimeProvider time;
    readonly long? globalTokens, globalMicros;

    public TimeSpan LeaseTime { get; }

    RedisAdmission(ConnectionMultiplexer redis, IAccessStore store, TimeProvider time, long? globalTokens, long? globalMicros, TimeSpan leaseTime)
    {
        (this.redis, this.store, this.time, this.globalTokens, this.globalMicros, LeaseTime) = (redis, store, time, globalTokens, globalMicros, leaseTime);
    }

    /// <summary>Connects (and keeps reconnecting in the background); an unreachable Redis at start is not an error, requests then get 503.</summary>
    public static RedisAdmission Connect(LimitsLocation location, IAccessStore store, TimeProvider time, long? globalTokens, long? globalMicros, TimeSpan leaseTime)
    {
        var options = location.Redis!.Clone();
        options.AbortOnConnectFail = false;
        return new RedisAdmission(ConnectionMultiplexer.Connect(options), store, time, globalTokens, globalMicros, leaseTime);
    }

    public ValueTask DisposeAsync() => redis.DisposeAsync();

    /// <summary>A granted reservation: the lease members to renew and settle, and what was reserved.</summary>
    public sealed record Grant(string RequestId, string KeyId, DateTimeOffset At, long Tokens, long Micros, RedisKey? KeyAccount, RedisKey? GlobalAccount)
    {
        internal string Member => $"{RequestId}|{Tokens}|{Micros}";
        internal int settled;
    }

    /// <summary>Why a request was refused: a rate (requests or tokens per minute) or a budget (key or global, tokens or money).</summary>
    public sealed record Refusal(string Kind, long Limit, long Remaining, TimeSpan Reset, DateTimeOffset? BudgetResets);

    public async Task<(Grant? Grant, Refusal? Refusal)> TryAdmitAsync(KeyRecord key, long tokens, long micros)
    {
        var now = time.GetUtcNow();
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
                    "fewshot:rpm:" + key.Id, "fewshot:tpm:" + key.Id,
                ],
                [
                    requestId, tokens, micros, keyBudget ?? -1, keyMicros ?? -1, globalTokens ?? -1, globalMicros ?? -1,
                    key.Limits.RequestsPerMinute ?? -1, key.Limits.TokensPerMinute ?? -1, (long)LeaseTime.TotalMilliseconds,
                    (long)TimeSpan.FromDays(40).TotalMilliseconds,
                ]))!;
            var code = (long)result[0];
            if (code == -1 && attempt < 3)
            {
                // An account not yet in Redis this period: start it from the ledger (the first instance to do so wins).
                var global = (long)result[1] == 2;
                var keyId = global ? null : key.Id;
                var since = global ? dayStart : keyStart;
                var used = await store.SumUsageAsync(keyId, since);
                var usedMicros = await store.SumCostAsync(keyId, since);
                await database.ScriptEvaluateAsync(AdmissionScripts.Open, [global ? globalAccount!.Value : keyAccount!.Value],
                    [used, usedMicros, (long)TimeSpan.FromDays(40).TotalMilliseconds]);
                continue;
            }
            if (code == 0) return (new Grant(requestId, key.Id, now, tokens, micros, keyAccount, globalAccount), null);
            var (limit, remaining, reset) = ((long)result[2], (long)result[3], TimeSpan.FromMilliseconds((long)result[4]));
            var kind = (string)result[1]!;
            var resets = kind.StartsWith("global", StringComparison.Ordinal) ? BudgetPeriods.End(BudgetPeriod.Day, now) : BudgetPeriods.End(key.Limits.Period, now);
            return (null, new Refusal(kind, limit, remaining, reset, resets));
        }
    }

    /// <summary>Moves the lease's expiry on (called while the request runs).</summary>
    public async Task RenewAsync(Grant grant)
    {
        var expires = time.GetUtcNow().ToUnixTimeMilliseconds() + (long)LeaseTime.TotalMilliseconds;
        var database = redis.GetDatabase();
        foreach (var account in new[] { grant.KeyAccount, grant.GlobalAccount })
            if (account is { } a) await database.SortedSetAddAsync(Leases(a), grant.Member, expires, SortedSetWhen.Exists);
    }

    /// <summary>Releases the reservation and charges <paramref name="charged"/> (at most what was reserved); once per request id.</summary>
    public async Task<bool> SettleAsync(Grant grant, long charged, long chargedMicros)
    {
        if (Interlocked.Exchange(ref grant.settled, 1) != 0) return false;
        var result = await redis.GetDatabase().ScriptEvaluateAsync(AdmissionScripts.Settle,
            [grant.KeyAccount ?? "-", Leases(grant.KeyAccount), grant.GlobalAccount ?? "-", Leases(grant.GlobalAccount), "fewshot:settled:" + grant.RequestId],
            [grant.Member, grant.Tokens, grant.Micros, Math.Min(charged, grant.Tokens), Math.Min(chargedMicros, grant.Micros),
                grant.KeyAccount is null ? 0 : 1, grant.GlobalAccount is null ? 0 : 1]);
        return (long)result == 1;
    }

    /// <summary>What a key has left this period in Redis's view (used + reserved by every instance); null: no budget or not started.</summary>
    public async Task<long?> RemainingAsync(KeyRecord key)
    {
        if (key.Limits.BudgetTokens is not { } budget) return null;
        var values = await redis.GetDatabase().HashGetAsync(Account(key.Id, BudgetPeriods.Start(key.Limits.Period, time.GetUtcNow())), ["used", "reserved"]);
        return values[0].IsNull ? null : Math.Max(0, budget - (long)values[0] - (long)values[1]);
    }

    static RedisKey Account(string id, DateTimeOffset start) => $"fewshot:account:{id}:{start.ToUnixTimeMilliseconds()}";
    static RedisKey Leases(RedisKey? account) => account is { } a ? a.Append(":leases") : "-";
}
