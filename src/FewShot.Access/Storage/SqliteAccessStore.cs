using System.Text.Json;
using FewShot.Access.Keys;
using Microsoft.Data.Sqlite;

namespace FewShot.Access.Storage;

/// <summary>
/// The default store: one SQLite file in WAL mode (readers never block the writer). Writes from this process go through
/// one lock, so there is a single writer; other processes (the fewshot CLI) wait on SQLite's busy timeout.
/// </summary>
public sealed class SqliteAccessStore : IAccessStore
{
    readonly string connectionString;
    readonly SemaphoreSlim writer = new(1, 1);

    public string Path { get; }

    public SqliteAccessStore(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        var folder = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        CreateSchema();
    }

    void CreateSchema()
    {
        using var connection = Open();
        Execute(connection, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS keys (
                id TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL, hash BLOB, hint TEXT NOT NULL,
                created_at INTEGER NOT NULL, expires_at INTEGER, revoked_at INTEGER, models TEXT NOT NULL, modes TEXT NOT NULL,
                limits TEXT NOT NULL, previous_hash BLOB, previous_valid_until INTEGER, rotated_at INTEGER);
            CREATE UNIQUE INDEX IF NOT EXISTS keys_hash ON keys(hash) WHERE hash IS NOT NULL;
            CREATE INDEX IF NOT EXISTS keys_previous_hash ON keys(previous_hash) WHERE previous_hash IS NOT NULL;
            CREATE TABLE IF NOT EXISTS usage (
                key_id TEXT NOT NULL, at INTEGER NOT NULL, model TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS usage_key_at ON usage(key_id, at);
            CREATE INDEX IF NOT EXISTS usage_at ON usage(at);
            CREATE TABLE IF NOT EXISTS audit (at INTEGER NOT NULL, event TEXT NOT NULL, key_id TEXT, client_ip TEXT, detail TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
            """);
        // Columns added with the gateway (upstream model servers, prices); older files gain them here.
        var columns = new HashSet<string>();
        using (var info = Command(connection, "SELECT name FROM pragma_table_info('usage')"))
        using (var reader = info.ExecuteReader())
            while (reader.Read()) columns.Add(reader.GetString(0));
        foreach (var (name, type) in new[] { ("cost_micros", "INTEGER NOT NULL DEFAULT 0"), ("upstream", "TEXT"), ("estimated", "INTEGER NOT NULL DEFAULT 0") })
            if (!columns.Contains(name)) Execute(connection, $"ALTER TABLE usage ADD COLUMN {name} {type};");
    }

    /// <summary>A pooled connection; SQLite's busy timeout comes from the connection string (DefaultTimeout).</summary>
    SqliteConnection Open(bool write = false)
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        // NORMAL is durable in WAL mode except for the last transactions before a power loss; usage rows are cheap to lose.
        if (write) Execute(connection, "PRAGMA synchronous = NORMAL;");
        return connection;
    }

    static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    async Task WriteAsync(string sql, CancellationToken cancel, params (string Name, object? Value)[] parameters)
    {
        await writer.WaitAsync(cancel);
        try
        {
            using var connection = Open(write: true);
            using var command = Command(connection, sql, parameters);
            command.ExecuteNonQuery();
        }
        finally { writer.Release(); }
    }

    public Task<string?> GetSettingAsync(string name, CancellationToken cancel = default)
    {
        using var connection = Open();
        using var command = Command(connection, "SELECT value FROM settings WHERE name = $n", ("$n", name));
        return Task.FromResult(command.ExecuteScalar() as string);
    }

    public Task SetSettingAsync(string name, string? value, CancellationToken cancel = default) => value is null
        ? WriteAsync("DELETE FROM settings WHERE name = $n", cancel, ("$n", name))
        : WriteAsync("INSERT INTO settings(name, value) VALUES($n, $v) ON CONFLICT(name) DO UPDATE SET value = $v", cancel, ("$n", name), ("$v", value));

    public async Task<string> GetOrAddSettingAsync(string name, string value, CancellationToken cancel = default)
    {
        await WriteAsync("INSERT INTO settings(name, value) VALUES($n, $v) ON CONFLICT(name) DO NOTHING", cancel, ("$n", name), ("$v", value));
        return await GetSettingAsync(name, cancel) ?? value;
    }

    const string KeyColumns = "id, kind, label, hash, hint, created_at, expires_at, revoked_at, models, modes, limits, previous_hash, previous_valid_until, rotated_at";

    public Task InsertKeyAsync(KeyRecord key, CancellationToken cancel = default) =>
        WriteAsync($"INSERT INTO keys({KeyColumns}) VALUES($id, $kind, $label, $hash, $hint, $created, $expires, $revoked, $models, $modes, $limits, $prev, $prevUntil, $rotated)",
            cancel, KeyParameters(key));

    public Task UpdateKeyAsync(KeyRecord key, CancellationToken cancel = default) =>
        WriteAsync("""
            UPDATE keys SET kind = $kind, label = $label, hash = $hash, hint = $hint, created_at = $created, expires_at = $expires,
                revoked_at = $revoked, models = $models, modes = $modes, limits = $limits, previous_hash = $prev,
                previous_valid_until = $prevUntil, rotated_at = $rotated WHERE id = $id
            """, cancel, KeyParameters(key));

    static (string, object?)[] KeyParameters(KeyRecord key) =>
    [
        ("$id", key.Id), ("$kind", key.Kind.ToString()), ("$label", key.Label), ("$hash", key.Hash), ("$hint", key.Hint),
        ("$created", Unix(key.CreatedAt)), ("$expires", Unix(key.ExpiresAt)), ("$revoked", Unix(key.RevokedAt)),
        ("$models", JsonSerializer.Serialize(key.Models)), ("$modes", JsonSerializer.Serialize(key.Modes)),
        ("$limits", JsonSerializer.Serialize(key.Limits)), ("$prev", key.PreviousHash), ("$prevUntil", Unix(key.PreviousValidUntil)),
        ("$rotated", Unix(key.RotatedAt)),
    ];

    public Task<KeyRecord?> GetKeyAsync(string id, CancellationToken cancel = default)
    {
        using var connection = Open();
        using var command = Command(connection, $"SELECT {KeyColumns} FROM keys WHERE id = $id", ("$id", id));
        using var reader = command.ExecuteReader();
        return Task.FromResult(reader.Read() ? ReadKey(reader) : null);
    }

    public Task<KeyMatch?> FindKeyByHashAsync(byte[] hash, CancellationToken cancel = default)
    {
        using var connection = Open();
        using var command = Command(connection, $"SELECT {KeyColumns} FROM keys WHERE hash = $h OR previous_hash = $h LIMIT 1", ("$h", hash));
        using var reader = command.ExecuteReader();
        if (!reader.Read()) return Task.FromResult<KeyMatch?>(null);
        var key = ReadKey(reader);
        return Task.FromResult<KeyMatch?>(new KeyMatch(key, IsPrevious: key.Hash is null || !key.Hash.AsSpan().SequenceEqual(hash)));
    }

    public Task<IReadOnlyList<KeyRecord>> ListKeysAsync(CancellationToken cancel = default)
    {
        using var connection = Open();
        using var command = Command(connection, $"SELECT {KeyColumns} FROM keys ORDER BY created_at, id");
        using var reader = command.ExecuteReader();
        var keys = new List<KeyRecord>();
        while (reader.Read()) keys.Add(ReadKey(reader));
        return Task.FromResult<IReadOnlyList<KeyRecord>>(keys);
    }

    static KeyRecord ReadKey(SqliteDataReader r) => new(
        Id: r.GetString(0),
        Kind: Enum.Parse<KeyKind>(r.GetString(1)),
        Label: r.GetString(2),
        Hash: r.IsDBNull(3) ? null : (byte[])r[3],
        Hint: r.GetString(4),
        CreatedAt: FromUnix(r.GetInt64(5)),
        ExpiresAt: r.IsDBNull(6) ? null : FromUnix(r.GetInt64(6)),
        RevokedAt: r.IsDBNull(7) ? null : FromUnix(r.GetInt64(7)),
        Models: JsonSerializer.Deserialize<string[]>(r.GetString(8)) ?? [],
        Modes: JsonSerializer.Deserialize<string[]>(r.GetString(9)) ?? [],
        Limits: JsonSerializer.Deserialize<KeyLimits>(r.GetString(10)) ?? KeyLimits.None,
        PreviousHash: r.IsDBNull(11) ? null : (byte[])r[11],
        PreviousValidUntil: r.IsDBNull(12) ? null : FromUnix(r.GetInt64(12)),
        RotatedAt: r.IsDBNull(13) ? null : FromUnix(r.GetInt64(13)));

    public async Task RecordUsageAsync(IReadOnlyList<UsageRecord> usage, CancellationToken cancel = default)
    {
        await writer.WaitAsync(cancel);
        try
        {
            using var connection = Open(write: true);
            using var transaction = connection.BeginTransaction();
            using var command = Command(connection, """
                INSERT INTO usage(key_id, at, model, prompt_tokens, completion_tokens, cost_micros, upstream, estimated)
                VALUES($k, $at, $m, $p, $c, $cost, $u, $e)
                """, ("$k", ""), ("$at", 0L), ("$m", ""), ("$p", 0), ("$c", 0), ("$cost", 0L), ("$u", null), ("$e", 0));
            command.Transaction = transaction;
            foreach (var u in usage)
            {
                command.Parameters["$k"].Value = u.KeyId;
                command.Parameters["$at"].Value = Unix(u.At);
                command.Parameters["$m"].Value = u.Model;
                command.Parameters["$p"].Value = u.PromptTokens;
                command.Parameters["$c"].Value = u.CompletionTokens;
                command.Parameters["$cost"].Value = u.CostMicros;
                command.Parameters["$u"].Value = (object?)u.Upstream ?? DBNull.Value;
                command.Parameters["$e"].Value = u.Estimated ? 1 : 0;
                command.ExecuteNonQuery();
            }
            transaction.Commit();
        }
        finally { writer.Release(); }
    }

    public Task<long> SumUsageAsync(string? keyId, DateTimeOffset since, CancellationToken cancel = default)
    {
        using var connection = Open();
        using var command = keyId is null
            ? Command(connection, "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage WHERE at >= $s", ("$s", Unix(since)))
            : Command(connection, "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage WHERE key_id = $k AND at >= $s",
                ("$k", keyId), ("$s", Unix(since)));
        return Task.FromResult(Convert.ToInt64(command.ExecuteScalar()));
    }

    public Task<long> SumCostAsync(string? keyId, DateTimeOffset since, CancellationToken cancel = default)
    {
        using var connection = Open();
        using var command = Command(connection, "SELECT COALESCE(SUM(cost_micros), 0) FROM usage WHERE at >= $s AND ($k IS NULL OR key_id = $k)",
            ("$s", Unix(since)), ("$k", keyId));
        return Task.FromResult(Convert.ToInt64(command.ExecuteScalar()));
    }

    public Task<IReadOnlyList<UsageGroup>> UsageGroupedAsync(UsageGrouping by, DateTimeOffset since, CancellationToken cancel = default)
    {
        var column = by switch { UsageGrouping.Key => "key_id", UsageGrouping.Model => "model", _ => "COALESCE(upstream, '-')" };
        using var connection = Open();
        using var command = Command(connection, $"""
            SELECT {column} AS name, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_micros), SUM(estimated) FROM usage
            WHERE at >= $s GROUP BY name ORDER BY name
            """, ("$s", Unix(since)));
        using var reader = command.ExecuteReader();
        var rows = new List<UsageGroup>();
        while (reader.Read())
            rows.Add(new UsageGroup(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5)));
        return Task.FromResult<IReadOnlyList<UsageGroup>>(rows);
    }

    public Task<IReadOnlyList<UsageSummary>> UsageByKeyAsync(string? keyId, DateTimeOffset since, CancellationToken cancel = default)
    {
        using var connection = Open();
        using var command = Command(connection, """
            SELECT key_id, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), MAX(at) FROM usage
            WHERE at >= $s AND ($k IS NULL OR key_id = $k) GROUP BY key_id ORDER BY key_id
            """, ("$s", Unix(since)), ("$k", keyId));
        using var reader = command.ExecuteReader();
        var rows = new List<UsageSummary>();
        while (reader.Read())
            rows.Add(new UsageSummary(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), FromUnix(reader.GetInt64(4))));
        return Task.FromResult<IReadOnlyList<UsageSummary>>(rows);
    }

    public Task AuditAsync(AuditEntry entry, CancellationToken cancel = default) =>
        WriteAsync("INSERT INTO audit(at, event, key_id, client_ip, detail) VALUES($at, $e, $k, $ip, $d)", cancel,
            ("$at", Unix(entry.At)), ("$e", entry.Event), ("$k", entry.KeyId), ("$ip", entry.ClientIp), ("$d", entry.Detail));

    public Task<IReadOnlyList<AuditEntry>> ReadAuditAsync(DateTimeOffset since, int limit, CancellationToken cancel = default)
    {
        using var connection = Open();
        using var command = Command(connection, "SELECT at, event, key_id, client_ip, detail FROM audit WHERE at >= $s ORDER BY at, rowid LIMIT $l",
            ("$s", Unix(since)), ("$l", limit));
        using var reader = command.ExecuteReader();
        var rows = new List<AuditEntry>();
        while (reader.Read())
            rows.Add(new AuditEntry(FromUnix(reader.GetInt64(0)), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetString(4)));
        return Task.FromResult<IReadOnlyList<AuditEntry>>(rows);
    }

    /// <summary>Times are stored as Unix milliseconds.</summary>
    static long? Unix(DateTimeOffset? time) => time?.ToUnixTimeMilliseconds();
    static long Unix(DateTimeOffset time) => time.ToUnixTimeMilliseconds();
    static DateTimeOffset FromUnix(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
