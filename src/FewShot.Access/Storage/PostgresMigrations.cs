using Npgsql;

namespace FewShot.Access.Storage;

/// <summary>
/// The PostgreSQL schema as numbered steps, applied at start in order, each in its own transaction with its version
/// recorded in fewshot_schema. Instances that start together take an advisory lock, so one migrates and the others
/// find the work done. A database at a newer version than this build knows is refused, never touched.
/// </summary>
static class PostgresMigrations
{
    /// <summary>Any constant shared by every instance; the lock serialises migrations across processes.</summary>
    const long LockId = 0x66657773686f74;  // "fewshot"

    static readonly string[] Steps =
    [
        // 1: keys, settings, the usage ledger (one row per request id) and the audit log. Times are Unix milliseconds.
        """
        CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE keys (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL, hash BYTEA, hint TEXT NOT NULL,
            created_at BIGINT NOT NULL, expires_at BIGINT, revoked_at BIGINT, models TEXT NOT NULL, modes TEXT NOT NULL,
            limits TEXT NOT NULL, previous_hash BYTEA, previous_valid_until BIGINT, rotated_at BIGINT);
        CREATE UNIQUE INDEX keys_hash ON keys(hash) WHERE hash IS NOT NULL;
        CREATE INDEX keys_previous_hash ON keys(previous_hash) WHERE previous_hash IS NOT NULL;
        CREATE TABLE usage (
            id BIGSERIAL PRIMARY KEY, request_id TEXT UNIQUE, key_id TEXT NOT NULL, at BIGINT NOT NULL, model TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cost_micros BIGINT NOT NULL DEFAULT 0,
            upstream TEXT, estimated BOOLEAN NOT NULL DEFAULT FALSE);
        CREATE INDEX usage_key_at ON usage(key_id, at);
        CREATE INDEX usage_at ON usage(at);
        CREATE TABLE audit (id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, event TEXT NOT NULL, key_id TEXT, client_ip TEXT, detail TEXT NOT NULL);
        CREATE INDEX audit_at ON audit(at);
        """,
    ];

    /// <summary>The version this build writes.</summary>
    public static int Latest => Steps.Length;

    public static void Apply(NpgsqlDataSource source)
    {
        using var connection = source.OpenConnection();
        using var transaction = connection.BeginTransaction();
        using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@id)", connection, transaction))
        {
            lockCommand.Parameters.AddWithValue("id", LockId);
            lockCommand.ExecuteNonQuery();
        }
        Execute(connection, transaction, "CREATE TABLE IF NOT EXISTS fewshot_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
        using var read = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM fewshot_schema", connection, transaction);
        var current = Convert.ToInt32(read.ExecuteScalar());
        if (current > Latest)
            throw new InvalidDataException(
                $"Access:Store: the database's schema is at version {current}, newer than this fewshot knows ({Latest}); upgrade fewshot");
        for (var version = current + 1; version <= Latest; version++)
        {
            try { Execute(connection, transaction, Steps[version - 1]); }
            catch (PostgresException e) when (!StoreErrors.IsUnavailable(e))
            {
                // Tables that are not ours, or a schema changed by hand: nothing is applied (the transaction rolls back).
                throw new InvalidDataException($"Access:Store: the database's schema is at version {current} and cannot be migrated to " +
                    $"{Latest}: step {version} failed: {e.SqlState}: {e.MessageText}; nothing was changed");
            }
            using var record = new NpgsqlCommand("INSERT INTO fewshot_schema(version) VALUES(@v)", connection, transaction);
            record.Parameters.AddWithValue("v", version);
            record.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    static void Execute(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        command.ExecuteNonQuery();
    }
}
