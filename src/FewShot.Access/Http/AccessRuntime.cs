using Microsoft.Extensions.Logging;
using FewShot.Access.Budgets;
using FewShot.Access.Firewall;
using FewShot.Access.Keys;
using FewShot.Access.Limits;
using FewShot.Access.Storage;

namespace FewShot.Access.Http;

/// <summary>The live state of access control in one server: keys, budgets, limiters, lockouts, address lists and counters.</summary>
public sealed class AccessRuntime : IAsyncDisposable
{
    public AccessOptions Options { get; }
    public IAccessStore Store { get; }
    public KeyService Keys { get; }
    public BudgetLedger Budgets { get; }
    public RateLimits Limits { get; }
    public Lockouts Lockouts { get; }
    /// <summary>The firewall's per-address lockouts and rates (in Redis when shared), for the middleware and the admission.</summary>
    public AddressGuard Addresses { get; }
    /// <summary>The admission shared through Redis (Access:Limits redis://...); null: this process's own limits and budgets.</summary>
    public RedisAdmission? Shared { get; }
    public AccessMetrics Metrics { get; } = new();
    /// <summary>Settlements of shared admissions, made behind their responses.</summary>
    public BackgroundSettlements Settlements { get; }
    public IpNetworkList Allowed { get; }
    public IpNetworkList Denied { get; }
    public IpNetworkList TrustedProxies { get; }

    public AccessRuntime(AccessOptions options, IAccessStore store, ILogger? log = null)
    {
        Options = options;
        Store = store;
        Settlements = new BackgroundSettlements(log);
        Keys = new KeyService(store, options.Time, store is PostgresAccessStore ? KeyService.SharedStoreKeyCacheTime : TimeSpan.Zero)
        {
            RotatedKeyHint = options.RotatedKeyHint,
        };
        Budgets = new BudgetLedger(store, options.Time, options.GlobalDailyBudgetTokens,
            options.GlobalDailyBudgetUsd is { } usd ? (long)Math.Floor(usd * 1_000_000m) : null, log,
            store is PostgresAccessStore ? options.OutboxPath() : null, options.OutboxSync);
        Limits = new RateLimits(options.IpRequestsPerMinute, options.MaxConcurrentGenerations, options.ConcurrencyQueue);
        if (LimitsLocation.Parse(options.Limits) is { Redis: not null } redis)
            Shared = RedisAdmission.Connect(redis, store, options, Budgets.GlobalDailyBudgetMicros);
        Lockouts = new Lockouts(options.LockoutThreshold, options.LockoutWindow, options.LockoutFirst, options.LockoutFactor, options.LockoutMax, options.Time);
        Addresses = new AddressGuard(Shared, Limits, Lockouts, Metrics, options);
        Allowed = new IpNetworkList(options.AllowedNetworks);
        Denied = new IpNetworkList(options.DeniedNetworks);
        TrustedProxies = new IpNetworkList(options.TrustedProxies);
    }

    public async ValueTask DisposeAsync()
    {
        await Settlements.DrainAsync();
        // Redis first: the settlements that waited for it are made now if it is back, which releases their rows in the
        // outbox, and the ledger's last flush then writes them (disposed the other way round, they waited for the next start).
        if (Shared is not null) await Shared.DisposeAsync();
        await Budgets.DisposeAsync();
        Limits.Dispose();
        Metrics.Dispose();
    }
}

/// <summary>Who is calling: set by the middleware on requests that presented a valid key.</summary>
public sealed record AccessPrincipal(KeyRecord Key, string ClientIp);
