using FewShot.Access.Keys;
using FewShot.Access.Storage;
using FewShot.Access.Tests.Servers;

namespace FewShot.Access.Tests.Stores;

/// <summary>What every <see cref="IAccessStore"/> promises, run against SQLite and against a real PostgreSQL.</summary>
public abstract class StoreContractTests
{
    protected abstract Task<IAccessStore> OpenAsync();

    static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_000);

    static KeyRecord Key(string id, byte[] hash) => new(id, KeyKind.Personal, "label " + id, hash, "fsk-…abcd", T0, T0.AddDays(30), null,
        ["m1"], ["chat"], new KeyLimits { BudgetTokens = 1000, RequestsPerMinute = 60, Period = BudgetPeriod.Day });

    [Fact]
    public async Task KeysRoundTripAndAreFoundByCurrentAndPreviousHash()
    {
        var store = await OpenAsync();
        var key = Key("key_a", [1, 2, 3]);
        await store.InsertKeyAsync(key);
        await store.InsertKeyAsync(Key("key_b", [9, 9]));

        var read = await store.GetKeyAsync("key_a");
        Assert.NotNull(read);
        Assert.Equal(key.Label, read.Label);
        Assert.Equal(key.ExpiresAt, read.ExpiresAt);
        Assert.Equal(["m1"], read.Models);
        Assert.Equal(1000, read.Limits.BudgetTokens);
        Assert.Equal(60, read.Limits.RequestsPerMinute);

        var rotated = key with { Hash = [4, 5, 6], PreviousHash = [1, 2, 3], PreviousValidUntil = T0.AddHours(1), RotatedAt = T0 };
        await store.UpdateKeyAsync(rotated);
        var current = await store.FindKeyByHashAsync([4, 5, 6]);
        Assert.False(current!.IsPrevious);
        var previous = await store.FindKeyByHashAsync([1, 2, 3]);
        Assert.True(previous!.IsPrevious);
        Assert.Equal("key_a", previous.Key.Id);
        Assert.Null(await store.FindKeyByHashAsync([7]));

        await store.UpdateKeyAsync(rotated with { RevokedAt = T0.AddMinutes(5) });
        Assert.Equal(T0.AddMinutes(5), (await store.GetKeyAsync("key_a"))!.RevokedAt);
        Assert.Equal(["key_a", "key_b"], (await store.ListKeysAsync()).Select(k => k.Id));
    }

    [Fact]
    public async Task SettingsAreSetReplacedDeletedAndAddedOnce()
    {
        var store = await OpenAsync();
        Assert.Null(await store.GetSettingAsync("s"));
        await store.SetSettingAsync("s", "1");
        await store.SetSettingAsync("s", "2");
        Assert.Equal("2", await store.GetSettingAsync("s"));
        await store.SetSettingAsync("s", null);
        Assert.Null(await store.GetSettingAsync("s"));

        var first = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => store.GetOrAddSettingAsync("secret", "v" + i)));
        Assert.Single(first.Distinct());
    }

    [Fact]
    public async Task UsageIsSummedPerKeyAndInTotalAndARequestIdIsStoredOnce()
    {
        var store = await OpenAsync();
        UsageRecord Row(string key, int minutes, int prompt, int completion, long micros, string? upstream, string? id) =>
            new(key, T0.AddMinutes(minutes), "m1", prompt, completion, micros, upstream, upstream is not null, id);
        await store.RecordUsageAsync([Row("k1", 0, 10, 5, 100, null, "r1"), Row("k1", 10, 1, 1, 7, "up", "r2"), Row("k2", 20, 100, 0, 0, "up", null)]);
        // The same request recorded again (a retried write) is not counted twice; rows without an id always append.
        await store.RecordUsageAsync([Row("k1", 0, 10, 5, 100, null, "r1"), Row("k2", 30, 1, 0, 0, null, null)]);

        Assert.Equal(17, await store.SumUsageAsync("k1", T0));
        Assert.Equal(2, await store.SumUsageAsync("k1", T0.AddMinutes(5)));
        Assert.Equal(118, await store.SumUsageAsync(null, T0));
        Assert.Equal(107, await store.SumCostAsync("k1", T0));
        Assert.Equal(107, await store.SumCostAsync(null, T0));
        Assert.Equal(0, await store.SumUsageAsync("nobody", T0));

        var byUpstream = await store.UsageGroupedAsync(UsageGrouping.Upstream, T0);
        Assert.Equal([("-", 2L, 0L), ("up", 2L, 2L)], byUpstream.Select(g => (g.Name, g.Requests, g.EstimatedRequests)));
        var byKey = await store.UsageByKeyAsync(null, T0);
        Assert.Equal([("k1", 2L, 11L, 6L), ("k2", 2L, 101L, 0L)], byKey.Select(s => (s.KeyId, s.Requests, s.PromptTokens, s.CompletionTokens)));
        Assert.Equal(T0.AddMinutes(10), byKey[0].LastUsed);
    }

    [Fact]
    public async Task AuditEntriesReadBackInOrderUpToTheLimit()
    {
        var store = await OpenAsync();
        for (var i = 0; i < 5; i++) await store.AuditAsync(new AuditEntry(T0.AddSeconds(i), "event" + i, i % 2 == 0 ? "k" : null, "10.0.0.1", "d" + i));
        var read = await store.ReadAuditAsync(T0.AddSeconds(1), 3);
        Assert.Equal(["event1", "event2", "event3"], read.Select(e => e.Event));
        Assert.Null(read[0].KeyId);
        Assert.Equal("10.0.0.1", read[1].ClientIp);
    }

    [Fact]
    public async Task HostileIdsAreDataNotSql()
    {
        var store = await OpenAsync();
        var hostile = "x'); DROP TABLE keys; --" + new string('é', 5000);
        await store.InsertKeyAsync(Key(hostile, [42]));
        await store.RecordUsageAsync([new UsageRecord(hostile, T0, "m'\"", 1, 1, RequestId: hostile)]);
        Assert.Equal(hostile, (await store.GetKeyAsync(hostile))!.Id);
        Assert.Equal(2, await store.SumUsageAsync(hostile, T0));
        Assert.Single(await store.ListKeysAsync());
    }
}

public sealed class SqliteStoreContractTests : StoreContractTests, IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("fewshot-store-").FullName;

    protected override Task<IAccessStore> OpenAsync() =>
        Task.FromResult(StoreLocation.Parse("sqlite:" + Path.Combine(folder, Guid.NewGuid().ToString("N") + ".db")).Open());

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(folder, recursive: true);
    }
}

public sealed class PostgresStoreContractTests(PostgresServer postgres) : StoreContractTests, IClassFixture<PostgresServer>
{
    protected override async Task<IAccessStore> OpenAsync() => StoreLocation.Parse(await postgres.NewDatabaseAsync()).Open();
}
