namespace FewShot.Access.Keys;

/// <summary>How often a key's token budget starts afresh.</summary>
public enum BudgetPeriod { Day, Week, Month, Never }

/// <summary>
/// A key's own limits. Null means "no limit of this kind". Token budgets count prompt plus completion tokens; a money
/// budget (<see cref="BudgetUsd"/>) counts dollars at each model's price and shares the token budget's period.
/// </summary>
public sealed record KeyLimits(
    long? BudgetTokens = null,
    BudgetPeriod Period = BudgetPeriod.Day,
    int? RequestsPerMinute = null,
    int? TokensPerMinute = null,
    int? MaxTokens = null,
    int? MaxPromptTokens = null,
    decimal? BudgetUsd = null)
{
    /// <summary>The money budget in micro-dollars, the ledger's unit.</summary>
    public long? BudgetMicros => BudgetUsd is { } usd ? (long)Math.Floor(usd * 1_000_000m) : null;

    public static readonly KeyLimits None = new();

    /// <summary>Bounds that keep a typo (an extra zero run, a minus sign) from becoming a policy.</summary>
    public const long MaxBudget = 1_000_000_000_000;
    public const int MaxRate = 10_000_000;
    public const int MaxLength = 10_000_000;

    /// <summary>Throws ArgumentException naming the field for a negative, zero or absurd limit.</summary>
    public KeyLimits Validated()
    {
        Check("budget_tokens", BudgetTokens, MaxBudget);
        Check("rpm", RequestsPerMinute, MaxRate);
        Check("tpm", TokensPerMinute, MaxRate);
        Check("max_tokens", MaxTokens, MaxLength);
        Check("max_prompt_tokens", MaxPromptTokens, MaxLength);
        if (BudgetUsd is { } usd && (usd <= 0 || usd > MaxBudget / 1_000_000))
            throw new LimitException("budget_usd", $"budget_usd must be positive and at most {MaxBudget / 1_000_000} (got {usd})");
        return this;
    }

    static void Check(string field, long? value, long max)
    {
        if (value is null) return;
        if (value <= 0) throw new LimitException(field, $"{field} must be positive (got {value}); leave it out for no limit");
        if (value > max) throw new LimitException(field, $"{field} = {value} is beyond the largest accepted value {max}");
    }

    /// <summary>Limits from wide integers as they arrive (CLI, JSON): out-of-range values become a LimitException naming the field.</summary>
    public static KeyLimits Create(long? budget, BudgetPeriod period, long? rpm, long? tpm, long? maxTokens, long? maxPromptTokens, decimal? budgetUsd = null) =>
        new KeyLimits(budget, period, Narrow(rpm, "rpm", MaxRate), Narrow(tpm, "tpm", MaxRate), Narrow(maxTokens, "max_tokens", MaxLength),
            Narrow(maxPromptTokens, "max_prompt_tokens", MaxLength), budgetUsd).Validated();

    static int? Narrow(long? value, string field, long max)
    {
        Check(field, value, max);
        return (int?)value;
    }

    public static BudgetPeriod ParsePeriod(string text) => text.Trim().ToLowerInvariant() switch
    {
        "day" or "daily" => BudgetPeriod.Day,
        "week" or "weekly" => BudgetPeriod.Week,
        "month" or "monthly" => BudgetPeriod.Month,
        "never" => BudgetPeriod.Never,
        _ => throw new LimitException("period", $"period '{text}' is not one of day, week, month, never"),
    };

    public static string Name(BudgetPeriod period) => period.ToString().ToLowerInvariant();
}

/// <summary>A limit or field that cannot be accepted; <see cref="Field"/> names it (OpenAI's "param").</summary>
public sealed class LimitException(string field, string message) : ArgumentException(message)
{
    public string Field { get; } = field;
}

/// <summary>
/// One key as stored: never the key itself, only its SHA-256 hash (and the previous key's hash during a rotation grace).
/// Empty <see cref="Models"/> or <see cref="Modes"/> allow all.
/// </summary>
public sealed record KeyRecord(
    string Id,
    KeyKind Kind,
    string Label,
    byte[]? Hash,
    string Hint,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt,
    IReadOnlyList<string> Models,
    IReadOnlyList<string> Modes,
    KeyLimits Limits,
    byte[]? PreviousHash = null,
    DateTimeOffset? PreviousValidUntil = null,
    DateTimeOffset? RotatedAt = null)
{
    public const string PublicKeyId = "key_public";

    public bool AllowsModel(string model) => Models.Count == 0 || Models.Contains(model, StringComparer.OrdinalIgnoreCase);
    public bool AllowsMode(string? mode) => Modes.Count == 0 || mode is null || Modes.Contains(mode, StringComparer.OrdinalIgnoreCase);

    public string Status(DateTimeOffset now) =>
        RevokedAt is not null ? "revoked" : ExpiresAt is { } e && e <= now ? "expired" : "active";
}
