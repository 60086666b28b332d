namespace FewShot.Access.Keys;

/// <summary>
/// The result of checking a presented key: the key, or why not. <see cref="Reason"/> is the metrics label
/// (missing_key, malformed_key, bad_checksum, unknown_key, expired_key, revoked_key, rotated_key).
/// </summary>
public sealed record AuthOutcome(KeyRecord? Key, string? Reason, string Message, string? KeyId = null)
{
    public bool Succeeded => Key is not null;

    public static AuthOutcome Ok(KeyRecord key) => new(key, null, "");
    public static AuthOutcome Fail(string reason, string message) => new(null, reason, message);

    public static readonly AuthOutcome Missing = Fail("missing_key",
        "Missing API key: send it in the Authorization header as 'Bearer YOUR_KEY'.");
    public static readonly AuthOutcome Malformed = Fail("malformed_key",
        "Malformed API key: expected 'Authorization: Bearer fs-…' with a complete FewShot key.");
    public static readonly AuthOutcome BadChecksum = Fail("bad_checksum",
        "Invalid API key: its checksum does not match, so it was mistyped or truncated.");
    public static readonly AuthOutcome Unknown = Fail("unknown_key", "Invalid API key: no such key.");
    public static readonly AuthOutcome Revoked = Fail("revoked_key", "This API key has been revoked.");
    public static AuthOutcome Expired(DateTimeOffset at) => Fail("expired_key", $"This API key expired at {at:yyyy-MM-dd HH:mm:ss} UTC.");
    public static AuthOutcome Rotated(DateTimeOffset until, string hint) =>
        Fail("rotated_key", $"This key has rotated: it stopped working at {until:yyyy-MM-dd HH:mm:ss} UTC. {hint}".TrimEnd());

    /// <summary>Failures that are worth an audit entry: someone holds a key that once worked.</summary>
    public bool IsSecurityEvent => Reason is "revoked_key" or "rotated_key" or "expired_key";
}
