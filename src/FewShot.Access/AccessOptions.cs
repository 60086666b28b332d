using System.ComponentModel.DataAnnotations;
using FewShot.Access.Keys;

namespace FewShot.Access;

/// <summary>
/// Everything `fewshot serve` can set about access control, bound like the serving settings from the "Access" section:
/// the settings file, then FEWSHOT_Access__* environment variables, then flags (--db, --public-key, ...); validated
/// when the server starts. The defaults are meant for a small public server.
/// </summary>
public sealed class AccessOptions
{
    public const string Section = "Access";

    /// <summary>The SQLite file with keys, usage and the audit log (shared with `fewshot keys` through --db), unless <see cref="Store"/> is set.</summary>
    public string DatabasePath { get; set; } = DefaultDatabasePath();

    /// <summary>Where keys, usage and the audit log live: "sqlite:PATH" or "postgres://USER:PASSWORD@HOST:PORT/DATABASE" (several
    /// instances share one); null: the SQLite file at <see cref="DatabasePath"/>. See docs/deploy.md.</summary>
    public string? Store { get; set; }

    /// <summary>Where rate limits and budget reservations live: "memory" (one instance) or "redis://[:PASSWORD@]HOST:PORT[/DB]"
    /// (shared by every instance on that Redis). See docs/deploy.md.</summary>
    public string Limits { get; set; } = "memory";

    /// <summary>What requests get while Redis is unreachable: "closed" (503 with Retry-After) or "open" (this instance's own limits).</summary>
    [RegularExpression("^(closed|open)$", ErrorMessage = "Access:LimitsFail must be closed or open")] public string LimitsFail { get; set; } = "closed";

    /// <summary>This instance's outbox for usage rows on their way to a shared store (PostgreSQL); null: outbox.db beside
    /// <see cref="DatabasePath"/>. Keep it on a disk that survives restarts: rows wait there while the store is away.</summary>
    public string? Outbox { get; set; }

    /// <summary>How the outbox commits: "full" (the default: on disk before the request settles, so that it survives a power
    /// cut) or "normal" (survives the process being killed, not the machine going down; no fsync per commit).</summary>
    [RegularExpression("^(full|normal)$", ErrorMessage = "Access:OutboxSync must be full or normal")] public string OutboxSync { get; set; } = "full";

    /// <summary>The outbox file: <see cref="Outbox"/>, or outbox.db in <see cref="DatabasePath"/>'s folder.</summary>
    public string OutboxPath() => Outbox ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(DatabasePath)) ?? ".", "outbox.db");

    /// <summary>How long a reservation in Redis lives unless the request renews it (it does, at a third of this, while it runs).</summary>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>An fsa-… admin key chosen by the operator; null: create one on first start and print it once.</summary>
    public string? AdminKey { get; set; }

    /// <summary>Called once with a newly created admin key (the lead's `serve` prints it); it is also logged as a warning.</summary>
    public Action<string>? OnAdminKeyCreated { get; set; }

    /// <summary>The public rotating key; null: none. Settings: Access:PublicKey:Rotation (daily, weekly, 6h), :Grace, :Limits:BudgetTokens.</summary>
    public PublicKeyOptions? PublicKey { get; set; }

    /// <summary>Told to whoever presents a rotated key, e.g. "Get the current key from our channel."</summary>
    public string RotatedKeyHint { get; set; } = "Get the current key where it is published.";

    /// <summary>The whole service's daily token budget (prompt + completion, all keys); null: unlimited.</summary>
    [Range(1L, long.MaxValue)] public long? GlobalDailyBudgetTokens { get; set; }

    /// <summary>The whole service's daily balance in dollars, at each model's price (upstream models); null: unlimited.</summary>
    [Range(typeof(decimal), "0.000001", "1000000000")] public decimal? GlobalDailyBudgetUsd { get; set; }

    [Range(1, int.MaxValue)] public int IpRequestsPerMinute { get; set; } = 120;
    [Range(1, 100_000)] public int MaxConcurrentGenerations { get; set; } = 64;
    /// <summary>Generations that may wait for a free slot before the next one gets 429.</summary>
    [Range(0, 1_000_000)] public int ConcurrencyQueue { get; set; } = 256;
    [Range(1L, long.MaxValue)] public long MaxRequestBodyBytes { get; set; } = 1 << 20;

    [Range(1, 1_000_000)] public int LockoutThreshold { get; set; } = 10;
    public TimeSpan LockoutWindow { get; set; } = TimeSpan.FromMinutes(5);
    public TimeSpan LockoutFirst { get; set; } = TimeSpan.FromMinutes(1);
    [Range(1.0, 1000.0)] public double LockoutFactor { get; set; } = 4;
    public TimeSpan LockoutMax { get; set; } = TimeSpan.FromHours(24);

    /// <summary>CIDR ranges; when not empty, only these may connect at all.</summary>
    public List<string> AllowedNetworks { get; set; } = [];
    /// <summary>CIDR ranges that are refused (checked before the allow list).</summary>
    public List<string> DeniedNetworks { get; set; } = [];
    /// <summary>Reverse proxies whose X-Forwarded-For is believed (e.g. "127.0.0.1/32" behind nginx on the same host).</summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>Path prefixes that need a key; everything else ("/", static files, /healthz, /metrics) stays open.</summary>
    public List<string> KeyPaths { get; set; } = ["/v1", "/api"];
    public string AdminPath { get; set; } = "/admin";

    /// <summary>The clock; tests move it.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary>%LOCALAPPDATA%/fewshot/access.db (on Linux ~/.local/share/fewshot/access.db).</summary>
    public static string DefaultDatabasePath() =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "fewshot", "access.db");
}
