using System.Threading.Channels;
using FewShot.Access.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FewShot.Access.Budgets;

/// <summary>How settled usage reaches the store: behind the requests (<see cref="UsageWriter"/>) or through an outbox (<see cref="UsageOutbox"/>).</summary>
interface IUsageSink : IAsyncDisposable
{
    /// <summary>Hands a row over without waiting.</summary>
    void Enqueue(UsageRecord usage);
    /// <summary>
    /// Hands a row over and waits until it is durable on this instance (the outbox) or queued (the writer). A held row
    /// (with a request id) stays out of the store until <see cref="Release"/>: its charge goes to Redis first, so that an
    /// account started from the ledger meanwhile cannot count it twice.
    /// </summary>
    Task WriteAsync(UsageRecord usage, bool held = false);
    /// <summary>Lets a held row go to the store.</summary>
    void Release(string requestId);
    /// <summary>Waits until every row handed over so far is in the store (or the store was found away while waiting).</summary>
    Task FlushAsync();
    /// <summary>True while the last attempt to reach the store failed.</summary>
    bool StoreUnavailable { get; }
}

/// <summary>
/// The ledger's outbox on one instance, for a shared store (PostgreSQL): a settled request's row is first committed to a
/// local SQLite file (WAL, synchronous=FULL unless Access:OutboxSync says normal, many rows per commit), then copied to the store, where its request id is
/// unique (a copy repeated after a crash is skipped there), then deleted here. While the store is away rows wait in the
/// file, across restarts, and are copied when it returns: a crash between any two steps neither loses a row nor counts it twice.
/// </summary>
sealed class UsageOutbox : IUsageSink
{
    const int Batch = 1000;
    static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(1);

    readonly IAccessStore store;
    readonly ILogger log;
    readonly string connectionString;
    readonly Channel<(UsageRecord Row, TaskCompletionSource? Durable)> appends =
        Channel.CreateUnbounded<(UsageRecord, TaskCompletionSource?)>(new UnboundedChannelOptions { SingleReader = true });
    readonly SemaphoreSlim shipNow = new(0);
    /// <summary>Rows written but not to be copied yet (only in memory: after a crash every row in the file goes).</summary>
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> held = new();
    readonly CancellationTokenSource stopping = new();
    readonly Task appending, shipping;
    long pending, failures;
    volatile bool unavailable;

    public string Path { get; }

    readonly string synchronous;

    /// <param name="sync">"full": each commit is on disk (fsync) before the request's settlement goes on; "normal": the
    /// commit survives this process dying (it is in the operating system's hands), not the machine.</param>
    public UsageOutbox(string path, IAccessStore store, ILogger? log = null, string sync = "full")
    {
        synchronous = sync == "normal" ? "NORMAL" : "FULL";
        Path = System.IO.Path.GetFullPath(path);
        this.store = store;
        this.log = log ?? NullLogger.Instance;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        connectionString = new SqliteConnectionStringBuilder { DataSource = Path, Pooling = true, DefaultTimeout = 30 }.ToString();
        using (var connection = Open())
            Execute(connection, """
                PRAGMA journal_mode = WAL;
                CREATE TABLE IF NOT EXISTS outbox (
                    request_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, at INTEGER NOT NULL, model TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
                    completion_tokens INTEGER NOT NULL, cost_micros INTEGER NOT NULL, upstream TEXT, estimated INTEGER NOT NULL);
                """);
        appending = Task.Run(AppendLoopAsync);
        shipping = Task.Run(ShipLoopAsync);  // rows left by an earlier run (a crash, the store away) go first
    }

    public bool StoreUnavailable => unavailable;

    public void Enqueue(UsageRecord usage)
    {
        Interlocked.Increment(ref pending);
        if (!appends.Writer.TryWrite((usage, null))) Interlocked.Decrement(ref pending);
    }

    public Task WriteAsync(UsageRecord usage, bool held = false)
    {
        if (held && usage.RequestId is { } id) this.held[id] = true;
        var durable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Increment(ref pending);
        if (!appends.Writer.TryWrite((usage, durable))) throw new ObjectDisposedException(nameof(UsageOutbox));
        return durable.Task;
    }

    public void Release(string requestId)
    {
        if (held.TryRemove(requestId, out _)) shipNow.Release();
    }

    SqliteConnection Open()
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        Execute(connection, $"PRAGMA synchronous = {synchronous};");
        return connection;
    }

    static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>Group commit: whatever arrived while the last commit ran goes into the next one.</summary>
    async Task AppendLoopAsync()
    {
        var batch = new List<(UsageRecord Row, TaskCompletionSource? Durable)>();
        while (await appends.Reader.WaitToReadAsync())
        {
            while (batch.Count < Batch && appends.Reader.TryRead(out var item)) batch.Add(item);
            try
            {
                Append(batch.Select(b => b.Row));
                foreach (var (_, durable) in batch) durable?.TrySetResult();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                log.LogError(e, "Could not write {Rows} usage rows to the outbox {Path}", batch.Count, Path);
                foreach (var (_, durable) in batch) durable?.TrySetException(e);
            }
            Interlocked.Add(ref pending, -batch.Count);
            batch.Clear();
            shipNow.Release();
        }
    }

    void Append(IEnumerable<UsageRecord> rows)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT OR IGNORE INTO outbox(request_id, key_id, at, model, prompt_tokens, completion_tokens, cost_micros, upstream, estimated)
            VALUES($r, $k, $at, $m, $p, $c, $cost, $u, $e)
            """;
        var parameters = new[] { "$r", "$k", "$at", "$m", "$p", "$c", "$cost", "$u", "$e" }.Select(n => command.Parameters.AddWithValue(n, DBNull.Value)).ToArray();
        foreach (var u in rows)
        {
            object?[] values = [u.RequestId ?? Guid.NewGuid().ToString("N"), u.KeyId, u.At.ToUnixTimeMilliseconds(), u.Model, u.PromptTokens,
                u.CompletionTokens, u.CostMicros, u.Upstream, u.Estimated ? 1 : 0];
            for (var i = 0; i < values.Length; i++) parameters[i].Value = values[i] ?? DBNull.Value;
            command.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    async Task ShipLoopAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            try { await ShipAsync(); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Interlocked.Increment(ref failures);
                if (!unavailable) log.LogWarning("The store is unreachable; usage waits in the outbox {Path}: {Error}", Path, e.Message.Split('\n')[0]);
                unavailable = true;
            }
            try { await shipNow.WaitAsync(RetryEvery, stopping.Token); }
            catch (OperationCanceledException) { }
        }
        try { await ShipAsync(); } catch (Exception e) when (e is not OutOfMemoryException) { }  // what the last requests left, if the store is there
    }

    /// <summary>Copies the outbox to the store, a batch at a time, deleting each batch once the store has committed it.</summary>
    async Task ShipAsync()
    {
        while (true)
        {
            var rows = Read();
            rows.RemoveAll(r => held.ContainsKey(r.RequestId!));
            if (rows.Count == 0)
            {
                unavailable = false;  // nothing waits (another process sharing the file may have sent it): the key checks tell
                return;
            }
            await store.RecordUsageAsync(rows);
            if (unavailable) log.LogInformation("The store is back; copying the outbox {Path}", Path);
            unavailable = false;
            Delete(rows);
        }
    }

    List<UsageRecord> Read()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT request_id, key_id, at, model, prompt_tokens, completion_tokens, cost_micros, upstream, estimated FROM outbox ORDER BY rowid LIMIT {Batch}";
        using var reader = command.ExecuteReader();
        var rows = new List<UsageRecord>();
        while (reader.Read())
            rows.Add(new UsageRecord(reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), reader.GetString(3),
                reader.GetInt32(4), reader.GetInt32(5), reader.GetInt64(6), reader.IsDBNull(7) ? null : reader.GetString(7), reader.GetInt64(8) != 0,
                reader.GetString(0)));
        return rows;
    }

    void Delete(List<UsageRecord> rows)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM outbox WHERE request_id = $r";
        var id = command.Parameters.Add("$r", SqliteType.Text);
        foreach (var row in rows)
        {
            id.Value = row.RequestId;
            command.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    /// <summary>Rows waiting in the outbox file (of every process that uses it).</summary>
    public long Waiting()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM outbox";
        return (long)command.ExecuteScalar()!;
    }

    public async Task FlushAsync()
    {
        var failed = Interlocked.Read(ref failures);
        while ((Interlocked.Read(ref pending) > 0 || Waiting() > 0) && Interlocked.Read(ref failures) == failed && !shipping.IsCompleted)
        {
            shipNow.Release();
            await Task.Delay(5);
        }
    }

    public async ValueTask DisposeAsync()
    {
        appends.Writer.TryComplete();
        await appending;
        await stopping.CancelAsync();
        await shipping;
        stopping.Dispose();
        SqliteConnection.ClearPool(new SqliteConnection(connectionString));
    }
}
