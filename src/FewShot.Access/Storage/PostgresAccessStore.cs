using FewShot.Access.Keys;
using Npgsql;

namespace FewShot.Access.Storage;

/// <summary>
/// The store that several `fewshot serve` instances share: keys, settings, the usage ledger and the audit log in one
/// PostgreSQL database, migrated at start (<see cref="PostgresMigrations"/>). Servers read a key here and keep it for a
/// quarter of a second (<see cref="Keys.KeyCache"/>), so a key issued, rotated or revoked on one instance counts on all of
/// them within that. A usage row with a request
/// id is written once, however often it is sent. Every statement is parameterised.
/// </summary>
public sealed class PostgresAccessStore : IAccessStore, IDisposable
{
    readonly NpgsqlDataSource source;

    public PostgresAccessStore(string connectionString)
    {
        source = NpgsqlDataSource.Create(connectionString);
        try { PostgresMigrations.Apply(source); }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            source.Dispose();
            var b = new NpgsqlConnectionStringBuilder(connectionString);
            throw new InvalidDataException($"Access:Store: cannot use PostgreSQL at {b.Host}:{b.Port}/{b.Database}: {e.Message.Split('\n')[0]}");
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    public void Dispose() => source.Dispose();

    NpgsqlCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var command = source.CreateCommand(sql);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    async Task ExecuteAsync(string sql, CancellationToken cancel, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(sql, parameters);
        await command.ExecuteNonQueryAsync(cancel);
    }

    async Task<long> ScalarAsync(string sql, CancellationToken cancel, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(sql, parameters);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancel));
    }

    public async Task<string?> GetSettingAsync(string name, CancellationToken cancel = default)
    {
        await using var command = Command("SELECT value FROM settings WHERE name = @n", ("n", name));
        return await command.ExecuteScalarAsync(cancel) as string;
    }

    public Task SetSettingAsync(string name, string? value, CancellationToken cancel = default) => value is null
        ? ExecuteAsync("DELETE FROM settings WHERE name = @n", cancel, ("n", name))
        : ExecuteAsync("INSERT INTO settings(name, value) VALUES(@n, @v) ON CONFLICT(name) DO UPDATE SET value = @v", cancel, ("n", name), ("v", value));

    public async Task<string> GetOrAddSettingAsync(string name, string value, CancellationToken cancel = default)
    {
        await ExecuteAsync("INSERT INTO settings(name, value) VALUES(@n, @v) ON CONFLICT(name) DO NOTHING", cancel, ("n", name), ("v", value));
        return await GetSettingAsync(name, cancel) ?? value;
    }

    public Task InsertKeyAsync(KeyRecord key, CancellationToken cancel = default) => ExecuteAsync(KeyRows.Insert, cancel, KeyRows.Parameters(key));

    public Task UpdateKeyAsync(KeyRecord key, CancellationToken cancel = default) => ExecuteAsync(KeyRows.Update, cancel, KeyRows.Parameters(key));

    public async Task<KeyRecord?> GetKeyAsync(string id, CancellationToken cancel = default)
    {
        await using var command = Command($"SELECT {KeyRows.Columns} FROM keys WHERE id = @id", ("id", id));
        await using var reader = await command.ExecuteReaderAsync(cancel);
        return await reader.ReadAsync(cancel) ? KeyRows.Read(reader) : null;
    }

    public async Task<KeyMatch?> FindKeyByHashAsync(byte[] hash, CancellationToken cancel = default)
    {
        await using var command = Command($"SELECT {KeyRows.Columns} FROM keys WHERE hash = @h OR previous_hash = @h LIMIT 1", ("h", hash));
        await using var reader = await command.ExecuteReaderAsync(cancel);
        if (!await reader.ReadAsync(cancel)) return null;
        var key = KeyRows.Read(reader);
        return KeyRows.Match(key, hash);
    }

    public async Task<IReadOnlyList<KeyRecord>> ListKeysAsync(CancellationToken cancel = default)
    {
        await using var command = Command($"SELECT {KeyRows.Columns} FROM keys ORDER BY created_at, id");
        await using var reader = await command.ExecuteReaderAsync(cancel);
        var keys = new List<KeyRecord>();
        while (await reader.ReadAsync(cancel)) keys.Add(KeyRows.Read(reader));
        return keys;
    }

    /// <summary>
    /// One statement for the whole batch, its columns sent as arrays: PostgreSQL parses and plans it once, where a
    /// statement per row cost a parse and a plan each on both sides. Rows already there (by request id) are skipped.
    /// </summary>
    public async Task RecordUsageAsync(IReadOnlyList<UsageRecord> usage, CancellationToken cancel = default)
    {
        if (usage.Count == 0) return;
        await using var command = Command("""
            INSERT INTO usage(request_id, key_id, at, model, prompt_tokens, completion_tokens, cost_micros, upstream, estimated)
            SELECT * FROM unnest(@r::text[], @k::text[], @at::bigint[], @m::text[], @p::integer[], @c::integer[], @cost::bigint[], @u::text[], @e::boolean[])
            ON CONFLICT (request_id) DO NOTHING
            """,
            ("r", Column(usage, u => u.RequestId)), ("k", Column(usage, u => u.KeyId)), ("at", Column(usage, u => Unix(u.At))),
            ("m", Column(usage, u => u.Model)), ("p", Column(usage, u => u.PromptTokens)), ("c", Column(usage, u => u.CompletionTokens)),
            ("cost", Column(usage, u => u.CostMicros)), ("u", Column(usage, u => u.Upstream)), ("e", Column(usage, u => u.Estimated)));
        await command.ExecuteNonQueryAsync(cancel);
    }

    static T[] Column<T>(IReadOnlyList<UsageRecord> rows, Func<UsageRecord, T> value)
    {
        var column = new T[rows.Count];
        for (var i = 0; i < column.Length; i++) column[i] = value(rows[i]);
        return column;
    }

    public Task<long> SumUsageAsync(string? keyId, DateTimeOffset since, CancellationToken cancel = default) =>
        ScalarAsync("SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage WHERE at >= @s AND (@k::text IS NULL OR key_id = @k)",
            cancel, ("s", Unix(since)), ("k", keyId));

    public Task<long> SumCostAsync(string? keyId, DateTimeOffset since, CancellationToken cancel = default) =>
        ScalarAsync("SELECT COALESCE(SUM(cost_micros), 0) FROM usage WHERE at >= @s AND (@k::text IS NULL OR key_id = @k)",
            cancel, ("s", Unix(since)), ("k", keyId));

    public async Task<IReadOnlyList<UsageGroup>> UsageGroupedAsync(UsageGrouping by, DateTimeOffset since, CancellationToken cancel = default)
    {
        var column = by switch { UsageGrouping.Key => "key_id", UsageGrouping.Model => "model", _ => "COALESCE(upstream, '-')" };
        await using var command = Command($"""
            SELECT {column} AS name, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_micros), SUM(CASE WHEN estimated THEN 1 ELSE 0 END)
            FROM usage WHERE at >= @s GROUP BY name ORDER BY name
            """, ("s", Unix(since)));
        await using var reader = await command.ExecuteReaderAsync(cancel);
        var rows = new List<UsageGroup>();
        while (await reader.ReadAsync(cancel))
            rows.Add(new UsageGroup(reader.GetString(0), reader.GetInt64(1), Convert.ToInt64(reader[2]), Convert.ToInt64(reader[3]),
                Convert.ToInt64(reader[4]), Convert.ToInt64(reader[5])));
        return rows;
    }

    public async Task<IReadOnlyList<UsageSummary>> UsageByKeyAsync(string? keyId, DateTimeOffset since, CancellationToken cancel = default)
    {
        await using var command = Command("""
            SELECT key_id, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), MAX(at) FROM usage
            WHERE at >= @s AND (@k::text IS NULL OR key_id = @k) GROUP BY key_id ORDER BY key_id
            """, ("s", Unix(since)), ("k", keyId));
        await using var reader = await command.ExecuteReaderAsync(cancel);
        var rows = new List<UsageSummary>();
        while (await reader.ReadAsync(cancel))
            rows.Add(new UsageSummary(reader.GetString(0), reader.GetInt64(1), Convert.ToInt64(reader[2]), Convert.ToInt64(reader[3]), FromUnix(reader.GetInt64(4))));
        return rows;
    }

    public Task AuditAsync(AuditEntry entry, CancellationToken cancel = default) =>
        ExecuteAsync("INSERT INTO audit(at, event, key_id, client_ip, detail) VALUES(@at, @e, @k, @ip, @d)", cancel,
            ("at", Unix(entry.At)), ("e", entry.Event), ("k", entry.KeyId), ("ip", entry.ClientIp), ("d", entry.Detail));

    public async Task<IReadOnlyList<AuditEntry>> ReadAuditAsync(DateTimeOffset since, int limit, CancellationToken cancel = default)
    {
        await using var command = Command("SELECT at, event, key_id, client_ip, detail FROM audit WHERE at >= @s ORDER BY at, id LIMIT @l",
            ("s", Unix(since)), ("l", limit));
        await using var reader = await command.ExecuteReaderAsync(cancel);
        var rows = new List<AuditEntry>();
        while (await reader.ReadAsync(cancel))
            rows.Add(new AuditEntry(FromUnix(reader.GetInt64(0)), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetString(4)));
        return rows;
    }

    /// <summary>Times are stored as Unix milliseconds, as in the SQLite store.</summary>
    static long? Unix(DateTimeOffset? time) => time?.ToUnixTimeMilliseconds();
    static long Unix(DateTimeOffset time) => time.ToUnixTimeMilliseconds();
    static DateTimeOffset FromUnix(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
