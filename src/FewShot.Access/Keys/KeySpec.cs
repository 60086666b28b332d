namespace FewShot.Access.Keys;

/// <summary>What the operator asks for when issuing a key (CLI or admin API).</summary>
public sealed record KeySpec(string Label, DateTimeOffset? ExpiresAt, IReadOnlyList<string> Models, IReadOnlyList<string> Modes, KeyLimits Limits)
{
    public const int MaxLabelLength = 200;

    public KeySpec Validated(DateTimeOffset now)
    {
        if (Label.Length > MaxLabelLength) throw new LimitException("label", $"label is longer than {MaxLabelLength} characters");
        if (ExpiresAt is { } e && e <= now) throw new LimitException("expires_at", $"expires_at {e:O} is not in the future");
        if (Models.Concat(Modes).Any(string.IsNullOrWhiteSpace)) throw new LimitException("models", "model and mode names must not be empty");
        Limits.Validated();
        return this;
    }
}

/// <summary>A key just created or rotated: the only moment its plaintext exists outside the client.</summary>
public sealed record IssuedKey(KeyRecord Record, string Key);

/// <summary>The public rotating key in force, its period, and when it changes.</summary>
public sealed record PublicKeyInfo(string Key, DateTimeOffset ValidFrom, DateTimeOffset RotatesAt, DateTimeOffset PreviousValidUntil, PublicKeySchedule Schedule);

/// <summary>Settings of the public rotating key, given at server start.</summary>
public sealed record PublicKeyOptions(string Rotation = "daily", TimeSpan? Grace = null, KeyLimits? Limits = null, IReadOnlyList<string>? Models = null)
{
    public TimeSpan GraceOrDefault => Grace ?? TimeSpan.FromHours(1);
}

/// <summary>A key named by id that does not exist (CLI exit 2, HTTP 404).</summary>
public sealed class UnknownKeyException(string id) : ArgumentException($"no key with id '{id}' (see `fewshot keys list`)")
{
    public string Id { get; } = id;
}
