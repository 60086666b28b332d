using System.Data.Common;
using System.Text.Json;
using FewShot.Access.Keys;

namespace FewShot.Access.Storage;

/// <summary>
/// How a <see cref="KeyRecord"/> is a row of the keys table, the same in SQLite and PostgreSQL: the columns, the
/// statements (named parameters, @id ...), the parameter values and reading a row back. Times are Unix milliseconds.
/// </summary>
static class KeyRows
{
    public const string Columns = "id, kind, label, hash, hint, created_at, expires_at, revoked_at, models, modes, limits, previous_hash, previous_valid_until, rotated_at";

    public const string Insert =
        $"INSERT INTO keys({Columns}) VALUES(@id, @kind, @label, @hash, @hint, @created, @expires, @revoked, @models, @modes, @limits, @prev, @prevUntil, @rotated)";

    public const string Update = """
        UPDATE keys SET kind = @kind, label = @label, hash = @hash, hint = @hint, created_at = @created, expires_at = @expires,
            revoked_at = @revoked, models = @models, modes = @modes, limits = @limits, previous_hash = @prev,
            previous_valid_until = @prevUntil, rotated_at = @rotated WHERE id = @id
        """;

    /// <summary>The values for <see cref="Insert"/> and <see cref="Update"/>, by parameter name.</summary>
    public static (string Name, object? Value)[] Parameters(KeyRecord key) =>
    [
        ("id", key.Id), ("kind", key.Kind.ToString()), ("label", key.Label), ("hash", key.Hash), ("hint", key.Hint),
        ("created", Unix(key.CreatedAt)), ("expires", Unix(key.ExpiresAt)), ("revoked", Unix(key.RevokedAt)),
        ("models", JsonSerializer.Serialize(key.Models)), ("modes", JsonSerializer.Serialize(key.Modes)),
        ("limits", JsonSerializer.Serialize(key.Limits)), ("prev", key.PreviousHash), ("prevUntil", Unix(key.PreviousValidUntil)),
        ("rotated", Unix(key.RotatedAt)),
    ];

    /// <summary>Reads a row selected with <see cref="Columns"/>.</summary>
    public static KeyRecord Read(DbDataReader r) => new(
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

    /// <summary>A found key, and whether <paramref name="hash"/> is the one it had before its last rotation.</summary>
    public static KeyMatch Match(KeyRecord key, byte[] hash) => new(key, IsPrevious: key.Hash is null || !key.Hash.AsSpan().SequenceEqual(hash));

    public static long? Unix(DateTimeOffset? time) => time?.ToUnixTimeMilliseconds();
    public static DateTimeOffset FromUnix(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
