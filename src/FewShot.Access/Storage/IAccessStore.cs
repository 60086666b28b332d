using FewShot.Access.Keys;

namespace FewShot.Access.Storage;

/// <summary>A stored key found by hash; <see cref="IsPrevious"/> when the hash is the one it had before its last rotation.</summary>
public sealed record KeyMatch(KeyRecord Key, bool IsPrevious);

/// <summary>
/// Tokens one request used, charged to a key at a time; <see cref="CostMicros"/> at the model's price (0: free),
/// <see cref="Upstream"/> the model server that answered (null: in-process), <see cref="Estimated"/> when the counts are ours.
/// </summary>
public sealed record UsageRecord(string KeyId, DateTimeOffset At, string Model, int PromptTokens, int CompletionTokens,
    long CostMicros = 0, string? Upstream = null, bool Estimated = false)
{
    public long Total => (long)PromptTokens + CompletionTokens;
}

/// <summary>Usage summed per key since a time.</summary>
public sealed record UsageSummary(string KeyId, long Requests, long PromptTokens, long CompletionTokens, DateTimeOffset? LastUsed);

/// <summary>How `fewshot usage` groups the ledger.</summary>
public enum UsageGrouping { Key, Model, Upstream }

/// <summary>Usage summed per key, model or upstream ("-" for in-process): requests, tokens, micro-dollars, and requests with estimated counts.</summary>
public sealed record UsageGroup(string Name, long Requests, long PromptTokens, long CompletionTokens, long CostMicros, long EstimatedRequests);

/// <summary>An admin action or a security event (lockout, use of a revoked or rotated key, failed admin authentication).</summary>
public sealed record AuditEntry(DateTimeOffset At, string Event, string? KeyId, string? ClientIp, string Detail);

/// <summary>
/// Where keys, usage and the audit log live. SQLite by default (<see cref="SqliteAccessStore"/>); a server database can
/// implement this when several server instances must share keys and usage. Budgets are enforced in memory on top of
/// <see cref="SumUsageAsync"/>, so one process owns the live balance (see docs/security.md).
/// </summary>
public interface IAccessStore
{
    Task<string?> GetSettingAsync(string name, CancellationToken cancel = default);
    Task SetSettingAsync(string name, string? value, CancellationToken cancel = default);
    /// <summary>Stores the value unless the setting exists; returns what is stored (so two processes agree on a generated secret).</summary>
    Task<string> GetOrAddSettingAsync(string name, string value, CancellationToken cancel = default);

    Task InsertKeyAsync(KeyRecord key, CancellationToken cancel = default);
    Task UpdateKeyAsync(KeyRecord key, CancellationToken cancel = default);
    Task<KeyRecord?> GetKeyAsync(string id, CancellationToken cancel = default);
    Task<KeyMatch?> FindKeyByHashAsync(byte[] hash, CancellationToken cancel = default);
    Task<IReadOnlyList<KeyRecord>> ListKeysAsync(CancellationToken cancel = default);

    /// <summary>Appends usage rows in one transaction.</summary>
    Task RecordUsageAsync(IReadOnlyList<UsageRecord> usage, CancellationToken cancel = default);
    /// <summary>Tokens charged since a time: to one key, or to all keys when <paramref name="keyId"/> is null.</summary>
    Task<long> SumUsageAsync(string? keyId, DateTimeOffset since, CancellationToken cancel = default);
    /// <summary>Micro-dollars charged since a time: to one key, or to all keys when <paramref name="keyId"/> is null.</summary>
    Task<long> SumCostAsync(string? keyId, DateTimeOffset since, CancellationToken cancel = default);
    Task<IReadOnlyList<UsageGroup>> UsageGroupedAsync(UsageGrouping by, DateTimeOffset since, CancellationToken cancel = default);
    Task<IReadOnlyList<UsageSummary>> UsageByKeyAsync(string? keyId, DateTimeOffset since, CancellationToken cancel = default);

    Task AuditAsync(AuditEntry entry, CancellationToken cancel = default);
    Task<IReadOnlyList<AuditEntry>> ReadAuditAsync(DateTimeOffset since, int limit, CancellationToken cancel = default);
}
