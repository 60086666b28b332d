using System.Globalization;
using FewShot.Access.Budgets;
using FewShot.Access.Storage;
using StackExchange.Redis;

namespace FewShot.Access.Limits;

/// <summary>One budget account in Redis, before and after `fewshot usage --reconcile` set it from the ledger.</summary>
public sealed record AccountReconciliation(string KeyId, DateTimeOffset PeriodStart, long UsedBefore, long UsedAfter, long UsedMicrosBefore,
    long UsedMicrosAfter, long ReservedBefore, long ReservedAfter, long ReservedMicrosBefore, long ReservedMicrosAfter)
{
    public bool Changed => (UsedBefore, UsedMicrosBefore, ReservedBefore, ReservedMicrosBefore) != (UsedAfter, UsedMicrosAfter, ReservedAfter, ReservedMicrosAfter);
}

/// <summary>
/// Rebuilds the budget counters in Redis from the ledger (`fewshot usage --reconcile`): for every account of every key and
/// the global balance, used becomes the ledger's sum for the account's period and reserved what its live leases hold
/// (expired leases are dropped). Run it after an outage, or after Redis lost data; instances keep serving meanwhile (a
/// request settled while it runs may be missing from the ledger's sum for the moments its row spends in an outbox).
/// </summary>
public static class LedgerReconciler
{
    public static async Task<IReadOnlyList<AccountReconciliation>> ReconcileAsync(LimitsLocation location, IAccessStore store, CancellationToken cancel = default)
    {
        var configuration = location.Redis!.Clone();
        configuration.AbortOnConnectFail = true;
        ConnectionMultiplexer redis;
        try { redis = await ConnectionMultiplexer.ConnectAsync(configuration); }
        catch (RedisConnectionException e)
        {
            throw new InvalidDataException($"--limits: cannot reach Redis at {configuration.EndPoints[0]}: {e.Message.Split('\n')[0]}");
        }
        await using var _ = redis;
        var database = redis.GetDatabase();
        var server = redis.GetServer(configuration.EndPoints[0]);
        var results = new List<AccountReconciliation>();
        await foreach (var account in server.KeysAsync(database.Database, RedisAdmission.AccountPrefix + "*", pageSize: 1000))
        {
            cancel.ThrowIfCancellationRequested();
            if (Parse(account) is not var (keyId, start)) continue;
            var ledgerKey = keyId == BudgetLedger.GlobalAccount ? null : keyId;
            var used = await store.SumUsageAsync(ledgerKey, start, cancel);
            var usedMicros = await store.SumCostAsync(ledgerKey, start, cancel);
            var v = (long[])(await database.ScriptEvaluateAsync(AdmissionScripts.Reconcile, [account, RedisAdmission.Leases(account)], [used, usedMicros]))!;
            results.Add(new AccountReconciliation(keyId, start, v[0], v[4], v[1], v[5], v[2], v[6], v[3], v[7]));
        }
        return [.. results.OrderBy(r => r.KeyId, StringComparer.Ordinal).ThenBy(r => r.PeriodStart)];
    }

    /// <summary>"fewshot:account:ID:STARTMS" into its key id and period start; null for a lease set or anything else.</summary>
    static (string KeyId, DateTimeOffset Start)? Parse(RedisKey account)
    {
        var name = ((string?)account ?? "")[RedisAdmission.AccountPrefix.Length..];
        var colon = name.LastIndexOf(':');
        if (colon <= 0 || !long.TryParse(name[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var ms)) return null;
        return (name[..colon], DateTimeOffset.FromUnixTimeMilliseconds(ms));
    }
}
