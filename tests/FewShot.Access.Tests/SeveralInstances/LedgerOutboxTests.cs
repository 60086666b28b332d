using System.Net;
using FewShot.Access.Budgets;
using FewShot.Access.Storage;
using FewShot.Access.Tests.Servers;
using Microsoft.Data.Sqlite;

namespace FewShot.Access.Tests.SeveralInstances;

/// <summary>
/// The ledger's outbox with PostgreSQL as the store: a settled request's row is durable on its instance first, waits
/// there while PostgreSQL is away (new requests get 503), and reaches the ledger once when it is back.
/// </summary>
public sealed class LedgerOutboxTests(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    // TestServer.Chat: a two-word prompt and max_tokens 16.
    const int PerRequest = 2 + 16;

    static long Waiting(string outbox)
    {
        using var connection = new SqliteConnection($"Data Source={outbox};Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM outbox";
        return (long)command.ExecuteScalar()!;
    }

    [Fact]
    public async Task WithPostgresAwayRunningRequestsSettleIntoTheOutboxAndReachTheLedgerOnceWhenItReturns()
    {
        var store = await postgres.NewDatabaseAsync();
        await using var server = await TestServer.StartAsync(o => o.Store = store, generationTime: TimeSpan.FromSeconds(3));
        var outbox = Path.Combine(server.Folder, "outbox.db");
        var key = await server.IssueAsync();
        using var client = server.Client(key);
        var running = Enumerable.Range(0, 6).Select(_ => client.PostAsync("v1/chat/completions", TestServer.Chat())).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(1.5));  // all six admitted and generating

        await postgres.StopAsync();
        try
        {
            using (var refused = await client.PostAsync("v1/chat/completions", TestServer.Chat()))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
                Assert.True(refused.Headers.RetryAfter is not null);
                Assert.Equal("service_unavailable", (await TestServer.ErrorAsync(refused))["code"]!.GetValue<string>());
            }
            foreach (var response in await Task.WhenAll(running)) Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (Waiting(outbox) < 6 && DateTime.UtcNow < deadline) await Task.Delay(50);
            Assert.Equal(6, Waiting(outbox));
        }
        finally { await postgres.StartAsync(); }

        var back = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (Waiting(outbox) > 0 && DateTime.UtcNow < back) await Task.Delay(100);
        Assert.Equal(0, Waiting(outbox));
        var ledger = StoreLocation.Parse(store).Open();
        Assert.Equal(6 * PerRequest, await ledger.SumUsageAsync(null, DateTimeOffset.UnixEpoch));
        Assert.Equal(6, Assert.Single(await ledger.UsageByKeyAsync(null, DateTimeOffset.UnixEpoch)).Requests);

        // And the service admits again, without a restart.
        server.Server.GenerationTime = TimeSpan.Zero;
        HttpStatusCode status;
        do
        {
            using var again = await client.PostAsync("v1/chat/completions", TestServer.Chat());
            status = again.StatusCode;
            if (status != HttpStatusCode.OK) await Task.Delay(200);
        } while (status != HttpStatusCode.OK && DateTime.UtcNow < back);
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task ARowCopiedToTheLedgerButNotDeletedFromTheOutboxIsNotCountedTwice()
    {
        var url = await postgres.NewDatabaseAsync();
        var store = StoreLocation.Parse(url).Open();
        using var folder = new TempFolder();
        var outbox = folder.File("outbox.db");
        var row = new UsageRecord("key_a", DateTimeOffset.UtcNow, "m", 3, 4, RequestId: "req-once");
        await using (var ledger = new BudgetLedger(store, TimeProvider.System, null, outboxPath: outbox))
        {
            await ledger.RecordAsync(row);
            await ledger.FlushAsync();
        }
        Assert.Equal(0, Waiting(outbox));

        // A crash after PostgreSQL committed the copy but before the outbox row was deleted: the row is still there at restart.
        using (var connection = new SqliteConnection($"Data Source={outbox};Pooling=false"))
        {
            connection.Open();
            using var insert = connection.CreateCommand();
            insert.CommandText = """
                INSERT INTO outbox(request_id, key_id, at, model, prompt_tokens, completion_tokens, cost_micros, upstream, estimated)
                VALUES('req-once', 'key_a', 0, 'm', 3, 4, 0, NULL, 0)
                """;
            insert.ExecuteNonQuery();
        }
        await using (var restarted = new BudgetLedger(store, TimeProvider.System, null, outboxPath: outbox, outboxSync: "normal"))
            await restarted.FlushAsync();
        Assert.Equal(0, Waiting(outbox));
        Assert.Equal(7, await store.SumUsageAsync(null, DateTimeOffset.UnixEpoch));
        Assert.Equal(1, Assert.Single(await store.UsageByKeyAsync(null, DateTimeOffset.UnixEpoch)).Requests);
    }

    /// <summary>As the shared gate settles: each row durable (held), then released once its charge is in Redis; all at once.</summary>
    [Fact]
    public async Task ConcurrentSettlementsAllReachTheLedgerExactlyOnceAndLeaveTheOutboxEmpty()
    {
        var store = StoreLocation.Parse(await postgres.NewDatabaseAsync()).Open();
        using var folder = new TempFolder();
        var outbox = folder.File("outbox.db");
        const int Rows = 2000;
        await using (var ledger = new BudgetLedger(store, TimeProvider.System, null, outboxPath: outbox))
        {
            await Task.WhenAll(Enumerable.Range(0, Rows).Select(i => Task.Run(async () =>
            {
                var id = $"req-{i}";
                await ledger.RecordAsync(new UsageRecord("key_a", DateTimeOffset.UtcNow, "m", 1, 2, RequestId: id), held: true);
                ledger.Release(id);
            })));
            await ledger.FlushAsync();
            Assert.Equal(0, Waiting(outbox));
        }
        Assert.Equal(3 * Rows, await store.SumUsageAsync(null, DateTimeOffset.UnixEpoch));
        Assert.Equal(Rows, Assert.Single(await store.UsageByKeyAsync(null, DateTimeOffset.UnixEpoch)).Requests);
    }

    /// <summary>
    /// Rows committed in several groups, some copied to the ledger and some still held (their charge not yet in Redis) when
    /// the instance goes away: the file keeps the held ones, and the next start copies them, each once.
    /// </summary>
    [Fact]
    public async Task RowsLeftInTheOutboxByAnEarlierRunReachTheLedgerOnceAtTheNextStart()
    {
        var store = StoreLocation.Parse(await postgres.NewDatabaseAsync()).Open();
        using var folder = new TempFolder();
        var outbox = folder.File("outbox.db");
        await using (var ledger = new BudgetLedger(store, TimeProvider.System, null, outboxPath: outbox))
        {
            for (var wave = 0; wave < 5; wave++)
                await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
                {
                    var id = $"req-{wave}-{i}";
                    await ledger.RecordAsync(new UsageRecord("key_a", DateTimeOffset.UtcNow, "m", 1, 2, RequestId: id), held: true);
                    if (i % 2 == 0) ledger.Release(id);  // the odd ones never see their charge reach Redis
                })));
        }  // shutdown copies the released half and keeps the held half
        Assert.Equal(100, Waiting(outbox));

        await using (var restarted = new BudgetLedger(store, TimeProvider.System, null, outboxPath: outbox))
            await restarted.FlushAsync();
        Assert.Equal(0, Waiting(outbox));
        Assert.Equal(3 * 200, await store.SumUsageAsync(null, DateTimeOffset.UnixEpoch));
        Assert.Equal(200, Assert.Single(await store.UsageByKeyAsync(null, DateTimeOffset.UnixEpoch)).Requests);
    }
}
