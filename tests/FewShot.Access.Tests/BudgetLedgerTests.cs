using FewShot.Access.Budgets;
using FewShot.Access.Keys;
using FewShot.Access.Storage;

namespace FewShot.Access.Tests;

public class BudgetLedgerTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("fewshot-ledger-").FullName;
    readonly ManualTime time = new(new DateTimeOffset(2026, 3, 4, 12, 0, 0, TimeSpan.Zero));

    static KeyRecord Key(string id, long? budget, BudgetPeriod period = BudgetPeriod.Day) =>
        new(id, KeyKind.Personal, id, [1], "fs-…", DateTimeOffset.UnixEpoch, null, null, [], [], new KeyLimits(budget, period));

    [Fact]
    public async Task TenThousandParallelReservationsNeverExceedTheKeyOrTheGlobalBudget()
    {
        await using var ledger = new BudgetLedger(new SqliteAccessStore(Path.Combine(folder, "a.db")), time, globalDailyBudget: 5_000);
        var keys = Enumerable.Range(0, 10).Select(i => Key($"k{i}", 700)).ToArray();
        var admitted = 0L;
        await Parallel.ForAsync(0, 10_000, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, cancel) =>
        {
            var (reservation, _) = await ledger.TryReserveAsync(keys[i % keys.Length], 7, cancel);
            if (reservation is null) return;
            Interlocked.Add(ref admitted, 7);
            ledger.Settle(reservation, new UsageRecord(reservation.KeyId, time.GetUtcNow(), "m", 3, 4));
        });
        // 10 keys x 700 = 7,000 > the 5,000 balance: the balance binds, to the token.
        Assert.True(admitted <= 5_000);
        Assert.Equal(4_998, admitted);  // 714 requests of 7
        await ledger.FlushAsync();
        Assert.Equal(admitted, await new SqliteAccessStore(Path.Combine(folder, "a.db")).SumUsageAsync(null, DateTimeOffset.UnixEpoch));
    }

    [Fact]
    public async Task AnUnchargedLeaseReleasesEverythingAndBudgetsResetWithTheirPeriod()
    {
        await using var ledger = new BudgetLedger(new SqliteAccessStore(Path.Combine(folder, "b.db")), time, globalDailyBudget: null);
        var key = Key("k", 100, BudgetPeriod.Day);
        var (first, _) = await ledger.TryReserveAsync(key, 80, default);
        Assert.NotNull(first);
        var (second, shortfall) = await ledger.TryReserveAsync(key, 30, default);
        Assert.Null(second);
        Assert.Equal(20, shortfall!.Remaining);
        Assert.Equal(new DateTimeOffset(2026, 3, 5, 0, 0, 0, TimeSpan.Zero), shortfall.ResetsAt);
        ledger.Settle(first!, null);  // failed before generating: nothing charged
        Assert.Equal(100, (await ledger.RemainingAsync(key, default)).Remaining);

        var (third, _) = await ledger.TryReserveAsync(key, 100, default);
        ledger.Settle(third!, new UsageRecord("k", time.GetUtcNow(), "m", 40, 60));
        Assert.Null((await ledger.TryReserveAsync(key, 1, default)).Reservation);
        time.Advance(TimeSpan.FromHours(12));  // next day
        Assert.NotNull((await ledger.TryReserveAsync(key, 100, default)).Reservation);
    }

    [Fact]
    public async Task AMoneyBudgetIsReservedAndChargedInMicroDollarsOnceAndSurvivesARestart()
    {
        var path = Path.Combine(folder, "c.db");
        var key = new KeyRecord("k", KeyKind.Personal, "k", [1], "fs-…", DateTimeOffset.UnixEpoch, null, null, [], [], new KeyLimits(BudgetUsd: 0.01m));
        await using (var ledger = new BudgetLedger(new SqliteAccessStore(path), time, globalDailyBudget: null, globalDailyBudgetMicros: 9_000))
        {
            var (first, _) = await ledger.TryReserveAsync(key, tokens: 100, micros: 6_000, default);
            Assert.NotNull(first);
            var (second, shortfall) = await ledger.TryReserveAsync(key, tokens: 100, micros: 4_000, default);
            Assert.Null(second); // 6,000 + 4,000 > the global 9,000 (the key's 10,000 would allow it)
            Assert.True(shortfall!.IsGlobal && shortfall.IsMoney && shortfall.Remaining == 3_000);
            var usage = new UsageRecord("k", time.GetUtcNow(), "m", 10, 20, CostMicros: 2_500, Upstream: "u", Estimated: true);
            ledger.Settle(first!, usage);
            ledger.Settle(first!, usage); // settling twice charges once
            Assert.Equal((2_500L, 0L), await ledger.GlobalMicrosTodayAsync(default));
            var (third, keyShort) = await ledger.TryReserveAsync(key, tokens: 1, micros: 7_501, default);
            Assert.Null(third);
            Assert.False(keyShort!.IsGlobal);
            Assert.Equal(7_500, keyShort.Remaining); // the key's $0.01 less what was charged
        }
        await using var restarted = new BudgetLedger(new SqliteAccessStore(path), time, globalDailyBudget: null, globalDailyBudgetMicros: 9_000);
        Assert.Equal((2_500L, 0L), await restarted.GlobalMicrosTodayAsync(default));
        var row = Assert.Single(await new SqliteAccessStore(path).UsageGroupedAsync(UsageGrouping.Upstream, DateTimeOffset.UnixEpoch));
        Assert.Equal(new UsageGroup("u", 1, 10, 20, 2_500, 1), row);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(folder, recursive: true);
    }
}
