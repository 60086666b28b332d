using System.Collections.Concurrent;
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
/// local SQLite file (WAL, synchronous=FULL unless Access:OutboxSync says normal), then copied to the store, where its
/// request id is unique (a copy repeated after a crash is skipped there), then deleted here. While the store is away rows
/// wait in the file, across restarts, and are copied when it returns: a crash between any two steps neither loses a row
/// nor counts it twice.
/// </summary>
/// <remarks>
/// One writer thread owns the file and commits in groups: every row that arrived while the last commit ran, and the
/// deletions of rows the store has confirmed since, go into the next transaction, so one fsync serves all of them. Rows
/// are copied from memory once durable (the file is read only at start, for what an earlier run left), so the cost of a
/// row does not grow with the rows waiting behind it.
/// </remarks>
sealed class UsageOutbox : IUsageSink
{
    const int Batch = 1000;
    static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(1);
    const string Columns = "request_id, key_id, at, model, prompt_tokens, completion_tokens, cost_micros, upstream, estimated";

    /// <summary>For the writer: a row to append (and who waits until it is durable), or request ids the store has (to delete), or a barrier.</summary>
    readonly record struct Work(UsageRecord? Row, TaskCompletionSource? Durable, List<string>? Stored = null);

    readonly IAccessStore store;
    readonly ILogger log;
    readonly string connectionString;
    readonly string synchronous;
    readonly Channel<Work> work = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    /// <summary>Durable rows that may go to the store, oldest first.</summary>
    readonly ConcurrentQueue<UsageRecord> ready = new();
    /// <summary>Rows written held, by request id: null until durable, then the row, until <see cref="Release"/> lets it go.</summary>
    readonly ConcurrentDictionary<string, UsageRecord?> held = new();
    readonly SemaphoreSlim shipNow = new(0);
    readonly CancellationTokenSource stopping = new();
    readonly TaskCompletionSource writerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Task shipping;
    /// <summary>Rows handed over (or left by an earlier run) and not yet deleted here after the store confirmed them.</summary>
    long outstanding;
    long failures;
    volatile bool unavailable;

    public string Path { get; }

    /// <param name="sync">"full": each commit is on disk (fsync) before its rows count as durable; "normal": the commit
    /// survives this process dying (it is in the operating system's hands), not the machine.</param>
    public UsageOutbox(string path, IAccessStore store, ILogger? log = null, string sync = "full")
    {
        synchronous = sync == "normal" ? "NORMAL" : "FULL";
        Path = System.IO.Path.GetFullPath(path);
        this.store = store;
        this.log = log ?? NullLogger.Instance;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        connectionString = new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false, DefaultTimeout = 30 }.ToString();
        var connection = Open();
        Execute(connection, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS outbox (
                request_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, at INTEGER NOT NULL, model TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL, cost_micros INTEGER NOT NULL, upstream TEXT, estimated INTEGER NOT NULL);
            """);
        LoadLeftovers(connection);  // rows left by an earlier run (a crash, the store away) go first
        new Thread(() => WriteLoop(connection)) { IsBackground = true, Name = "usage outbox writer" }.Start();
        shipping = Task.Run(ShipLoopAsync);
    }

    public bool StoreUnavailable => unavailable;

    public void Enqueue(UsageRecord usage)
    {
        Interlocked.Increment(ref outstanding);
        if (!work.Writer.TryWrite(new Work(WithId(usage), null))) Interlocked.Decrement(ref outstanding);
    }

    public Task WriteAsync(UsageRecord usage, bool held = false)
    {
        usage = WithId(usage);
        if (held) this.held[usage.RequestId!] = null;
        var durable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Increment(ref outstanding);
        if (!work.Writer.TryWrite(new Work(usage, durable)))
        {
            Interlocked.Decrement(ref outstanding);
            throw new ObjectDisposedException(nameof(UsageOutbox));
        }
        return durable.Task;
    }

    /// <summary>Every row needs an id: the file and the store know it by that, and delete or skip it by that.</summary>
    static UsageRecord WithId(UsageRecord usage) => usage.RequestId is null ? usage with { RequestId = Guid.NewGuid().ToString("N") } : usage;

    public void Release(string requestId)
    {
        // Null: not durable yet; the writer finds the id gone and lets the row go itself.
        if (held.TryRemove(requestId, out var row) && row is not null) Ready(row);
    }

    void Ready(UsageRecord row)
    {
        ready.Enqueue(row);
        shipNow.Release();
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

    void LoadLeftovers(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM outbox ORDER BY rowid";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            ready.Enqueue(new UsageRecord(reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), reader.GetString(3),
                reader.GetInt32(4), reader.GetInt32(5), reader.GetInt64(6), reader.IsDBNull(7) ? null : reader.GetString(7), reader.GetInt64(8) != 0,
                reader.GetString(0)));
            outstanding++;
        }
    }

    /// <summary>
    /// The writer, on a thread of its own (it blocks in fsync, which must not hold a thread-pool thread the requests need):
    /// group commit of whatever arrived while the last commit ran.
    /// </summary>
    void WriteLoop(SqliteConnection connection)
    {
        try
        {
            using var insert = connection.CreateCommand();
            insert.CommandText = $"INSERT OR IGNORE INTO outbox({Columns}) VALUES($r, $k, $at, $m, $p, $c, $cost, $u, $e)";
            var values = new[] { "$r", "$k", "$at", "$m", "$p", "$c", "$cost", "$u", "$e" }.Select(n => insert.Parameters.AddWithValue(n, DBNull.Value)).ToArray();
            using var delete = connection.CreateCommand();
            delete.CommandText = "DELETE FROM outbox WHERE request_id = $r";
            var deleted = delete.Parameters.Add("$r", SqliteType.Text);
            var appends = new List<Work>();
            var stored = new List<string>();
            while (work.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                while (appends.Count < Batch && work.Reader.TryRead(out var item))
                    if (item.Stored is { } ids) stored.AddRange(ids);
                    else appends.Add(item);
                try
                {
                    using (var transaction = connection.BeginTransaction())
                    {
                        insert.Transaction = delete.Transaction = transaction;
                        foreach (var id in stored)
                        {
                            deleted.Value = id;
                            delete.ExecuteNonQuery();
                        }
                        foreach (var row in appends.Select(a => a.Row))
                        {
                            if (row is null) continue;  // a barrier
                            object?[] v = [row.RequestId, row.KeyId, row.At.ToUnixTimeMilliseconds(), row.Model, row.PromptTokens,
                                row.CompletionTokens, row.CostMicros, row.Upstream, row.Estimated ? 1 : 0];
                            for (var i = 0; i < v.Length; i++) values[i].Value = v[i] ?? DBNull.Value;
                            insert.ExecuteNonQuery();
                        }
                        transaction.Commit();
                    }
                    Interlocked.Add(ref outstanding, -stored.Count);
                    stored.Clear();
                    foreach (var (row, durable, _) in appends)
                    {
                        // A held row stays here until released; one released before it was durable goes now.
                        if (row is not null && !held.TryUpdate(row.RequestId!, row, null)) Ready(row);
                        durable?.TrySetResult();
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // The deletions are tried again with the next commit; the appends failed, and their requests are told.
                    log.LogError(e, "Could not write {Rows} usage rows to the outbox {Path}", appends.Count, Path);
                    foreach (var (row, durable, _) in appends)
                    {
                        if (row is null) continue;
                        held.TryRemove(row.RequestId!, out _);
                        Interlocked.Decrement(ref outstanding);
                        durable?.TrySetException(e);
                    }
                }
                appends.Clear();
            }
        }
        catch (Exception e)
        {
            log.LogError(e, "The outbox writer of {Path} stopped", Path);
            work.Writer.TryComplete();
            while (work.Reader.TryRead(out var left)) left.Durable?.TrySetException(e);  // nobody waits for a commit that will not come
        }
        finally
        {
            connection.Dispose();
            writerDone.TrySetResult();
        }
    }

    async Task ShipLoopAsync()
    {
        var batch = new List<UsageRecord>();  // kept across failures: the same rows, in order, go first when the store is back
        while (true)
        {
            var last = stopping.IsCancellationRequested;
            try { await ShipAsync(batch); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Interlocked.Increment(ref failures);
                if (!unavailable) log.LogWarning("The store is unreachable; usage waits in the outbox {Path}: {Error}", Path, e.Message.Split('\n')[0]);
                unavailable = true;
            }
            if (last) return;  // what the last requests left was tried once more, if the store is there
            try { await shipNow.WaitAsync(RetryEvery, stopping.Token); }
            catch (OperationCanceledException) { }
        }
    }

    /// <summary>Copies durable rows to the store, a batch at a time; the writer deletes each batch here once the store has committed it.</summary>
    async Task ShipAsync(List<UsageRecord> batch)
    {
        while (true)
        {
            while (batch.Count < Batch && ready.TryDequeue(out var row)) batch.Add(row);
            if (batch.Count == 0)
            {
                unavailable = false;  // nothing waits: the key checks tell whether the store is there
                return;
            }
            await store.RecordUsageAsync(batch);
            if (unavailable) log.LogInformation("The store is back; copying the outbox {Path}", Path);
            unavailable = false;
            var ids = batch.ConvertAll(r => r.RequestId!);
            batch.Clear();
            // After disposal the deletions cannot be made: the rows go again at the next start, and the store skips them.
            work.Writer.TryWrite(new Work(null, null, ids));
        }
    }

    public async Task FlushAsync()
    {
        var failed = Interlocked.Read(ref failures);
        while (Interlocked.Read(ref outstanding) > 0 && Interlocked.Read(ref failures) == failed && !shipping.IsCompleted)
        {
            shipNow.Release();
            await Task.Delay(5);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Everything handed over so far committed here (a barrier behind it), copied once more, the copies deleted, then the file closed.
        var barrier = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (work.Writer.TryWrite(new Work(null, barrier))) await Task.WhenAny(barrier.Task, writerDone.Task);
        await stopping.CancelAsync();
        await shipping;
        work.Writer.TryComplete();
        await writerDone.Task;
        stopping.Dispose();
    }
}
