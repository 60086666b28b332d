using FewShot.Access.Keys;
using FewShot.Access.Limits;
using FewShot.Access.Storage;
using FewShot.Access.Tests.Servers;
using StackExchange.Redis;

namespace FewShot.Access.Tests.SeveralInstances;

/// <summary>`fewshot usage --reconcile`: the budget counters in Redis rebuilt from the PostgreSQL ledger.</summary>
public sealed class ReconcileTests(PostgresServer postgres, RedisServer redis) : IClassFixture<PostgresServer>, IClassFixture<RedisServer>
{
    [Fact]
    public async Task ReconcileSetsUsedFromTheLedgerAndReservedFromTheLiveLeasesAndSaysWhatChanged()
    {
        var store = StoreLocation.Parse(await postgres.NewDatabaseAsync()).Open();
        var location = LimitsLocation.Parse($"{redis.Url}/14");
        var options = new AccessOptions { GlobalDailyBudgetTokens = 10_000 };
        await using var admission = RedisAdmission.Connect(location, store, options, null);
        var key = new KeyRecord("key_rec", KeyKind.Personal, "r", [1], "h", DateTimeOffset.UtcNow, null, null, [], [], new KeyLimits(BudgetTokens: 1000));

        var (settled, _) = await admission.TryAdmitAsync(key, 100, 0);
        await store.RecordUsageAsync([new UsageRecord(key.Id, DateTimeOffset.UtcNow, "m", 10, 50, RequestId: settled!.RequestId)]);
        await admission.SettleAsync(settled, 60, 0);
        var (running, _) = await admission.TryAdmitAsync(key, 100, 0);  // still running: its lease is live
        Assert.NotNull(running);

        // Drift: a settlement that reached the ledger while Redis was away, a counter written wrong, a lease whose request died.
        await store.RecordUsageAsync([new UsageRecord(key.Id, DateTimeOffset.UtcNow, "m", 20, 20, RequestId: "req-while-away")]);
        using (var direct = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port}"))
        {
            var database = direct.GetDatabase(14);
            var account = $"fewshot:account:{key.Id}:{Budgets.BudgetPeriods.Start(BudgetPeriod.Day, DateTimeOffset.UtcNow).ToUnixTimeMilliseconds()}";
            await database.HashSetAsync(account, "used", 5000);
            await database.SortedSetAddAsync(account + ":leases", "dead|50|0", 1);
            await database.HashIncrementAsync(account, "reserved", 50);
        }
        Assert.Equal(0, await admission.RemainingAsync(key));

        var changes = await LedgerReconciler.ReconcileAsync(location, store);
        Assert.Equal(2, changes.Count);
        var forKey = Assert.Single(changes, c => c.KeyId == key.Id);
        Assert.True(forKey.Changed);
        Assert.Equal((5000, 100, 150, 100), (forKey.UsedBefore, forKey.UsedAfter, forKey.ReservedBefore, forKey.ReservedAfter));
        var global = Assert.Single(changes, c => c.KeyId == Budgets.BudgetLedger.GlobalAccount);
        Assert.Equal((60, 100, 100, 100), (global.UsedBefore, global.UsedAfter, global.ReservedBefore, global.ReservedAfter));
        Assert.Equal(1000 - 100 - 100, await admission.RemainingAsync(key));

        // A second run finds nothing to change.
        Assert.All(await LedgerReconciler.ReconcileAsync(location, store), c => Assert.False(c.Changed));
    }
}
