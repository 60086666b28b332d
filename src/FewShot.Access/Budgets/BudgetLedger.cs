using Microsoft.Extensions.Logging;
using FewShot.Access.Keys;
using FewShot.Access.Storage;

namespace FewShot.Access.Budgets;

/// <summary>
/// Budgets held in memory and checked atomically, in tokens and in money (micro-dollars): per key per period, and the
/// service's daily balance. An account is loaded once from the store's usage sums when its period is first touched; from
/// then on this process is the only writer of that account, so "used + reserved + this request &lt;= budget" under one
/// lock can never overspend, however many requests arrive at once. Charged usage is also written to the store (for
/// restarts and reports) by <see cref="UsageWriter"/>, behind the requests, so no request waits for a disk write; with a
/// shared store (PostgreSQL) through <see cref="UsageOutbox"/>, a local file first, so that no row is lost while it is away.
/// </summary>
public sealed class BudgetLedger(IAccessStore store, TimeProvider time, long? globalDailyBudget, long? globalDailyBudgetMicros = null, ILogger? log = null,
    string? outboxPath = null, string outboxSync = "full") : IAsyncDisposable
{
    readonly IUsageSink writer = outboxPath is null ? new UsageWriter(store, log) : new UsageOutbox(outboxPath, store, log, outboxSync);

    public const string GlobalAccount = "*global*";

    internal sealed class Account(long used, long usedMicros)
    {
        public long Used = used;
        public long Reserved;
        public long UsedMicros = usedMicros;
        public long ReservedMicros;
    }

    readonly Lock gate = new();
    readonly Dictionary<(string Id, DateTimeOffset Start), Account> accounts = [];

    public long? GlobalDailyBudget { get; } = globalDailyBudget;

    /// <summary>The service's daily balance in micro-dollars; null: unlimited.</summary>
    public long? GlobalDailyBudgetMicros { get; } = globalDailyBudgetMicros;

    /// <summary>A reservation of <see cref="Tokens"/> and <see cref="Micros"/> against a key's account and the global one.</summary>
    public sealed class Reservation
    {
        internal Account? Key;
        internal Account? Global;
        public required string KeyId { get; init; }
        public required long Tokens { get; init; }
        public long Micros { get; init; }
        public required DateTimeOffset At { get; init; }
        /// <summary>Unique per request; the ledger row carries it, so the row is stored once however often it is written.</summary>
        public string RequestId { get; init; } = Guid.NewGuid().ToString("N");
        internal int settled;
    }

    /// <summary>Which budget stopped a request (in money when <see cref="IsMoney"/>, then in micro-dollars), and when it resets (null: never).</summary>
    public sealed record Shortfall(bool IsGlobal, long Budget, long Remaining, DateTimeOffset? ResetsAt, bool IsMoney = false);

    public Task<(Reservation? Reservation, Shortfall? Shortfall)> TryReserveAsync(KeyRecord key, long tokens, CancellationToken cancel) =>
        TryReserveAsync(key, tokens, 0, cancel);

    /// <summary>Reserves <paramref name="tokens"/> and <paramref name="micros"/> against every budget that applies, or none of them.</summary>
    public async Task<(Reservation? Reservation, Shortfall? Shortfall)> TryReserveAsync(KeyRecord key, long tokens, long micros, CancellationToken cancel)
    {
        var now = time.GetUtcNow();
        var (keyBudget, keyMicros) = (key.Limits.BudgetTokens, key.Limits.BudgetMicros);
        var keyStart = BudgetPeriods.Start(key.Limits.Period, now);
        var dayStart = BudgetPeriods.Start(BudgetPeriod.Day, now);
        var keyAccount = keyBudget is null && keyMicros is null ? null : await AccountAsync(key.Id, keyStart, cancel);
        var globalAccount = GlobalDailyBudget is null && GlobalDailyBudgetMicros is null ? null : await AccountAsync(GlobalAccount, dayStart, cancel);
        var keyEnd = BudgetPeriods.End(key.Limits.Period, now);
        var dayEnd = BudgetPeriods.End(BudgetPeriod.Day, now);

        lock (gate)
        {
            if (keyAccount is not null && Short(keyBudget, keyAccount.Used + keyAccount.Reserved, tokens) is { } k)
                return (null, new Shortfall(false, keyBudget!.Value, k, keyEnd));
            if (keyAccount is not null && Short(keyMicros, keyAccount.UsedMicros + keyAccount.ReservedMicros, micros) is { } km)
                return (null, new Shortfall(false, keyMicros!.Value, km, keyEnd, IsMoney: true));
            if (globalAccount is not null && Short(GlobalDailyBudget, globalAccount.Used + globalAccount.Reserved, tokens) is { } g)
                return (null, new Shortfall(true, GlobalDailyBudget!.Value, g, dayEnd));
            if (globalAccount is not null && Short(GlobalDailyBudgetMicros, globalAccount.UsedMicros + globalAccount.ReservedMicros, micros) is { } gm)
                return (null, new Shortfall(true, GlobalDailyBudgetMicros!.Value, gm, dayEnd, IsMoney: true));
            foreach (var account in new[] { keyAccount, globalAccount })
            {
                if (account is null) continue;
                account.Reserved += tokens;
                account.ReservedMicros += micros;
            }
        }
        return (new Reservation { Key = keyAccount, Global = globalAccount, KeyId = key.Id, Tokens = tokens, Micros = micros, At = now }, null);
    }

    /// <summary>What is left when <paramref name="amount"/> does not fit under <paramref name="budget"/>; null when it fits (or there is no budget).</summary>
    static long? Short(long? budget, long committed, long amount) =>
        budget is { } b && committed + amount > b ? Math.Max(0, b - committed) : null;

    /// <summary>Charges what was used (at most what was reserved) and releases the rest. Idempotent: a second call does nothing.</summary>
    public void Settle(Reservation reservation, UsageRecord? usage)
    {
        if (Interlocked.Exchange(ref reservation.settled, 1) != 0) return;
        // A server that reports more than the worst case it asked for is charged the worst case (the budget is a promise).
        if (usage is not null && usage.Total > reservation.Tokens)
        {
            var prompt = (int)Math.Min(usage.PromptTokens, reservation.Tokens);
            usage = usage with { PromptTokens = prompt, CompletionTokens = (int)(reservation.Tokens - prompt) };
        }
        if (usage is not null && usage.CostMicros > reservation.Micros) usage = usage with { CostMicros = reservation.Micros };
        var charged = usage?.Total ?? 0;
        var chargedMicros = usage?.CostMicros ?? 0;
        lock (gate)
        {
            foreach (var account in new[] { reservation.Key, reservation.Global })
            {
                if (account is null) continue;
                account.Reserved -= reservation.Tokens;
                account.Used += charged;
                account.ReservedMicros -= reservation.Micros;
                account.UsedMicros += chargedMicros;
            }
        }
        if (usage is not null && (usage.Total > 0 || usage.CostMicros > 0)) writer.Enqueue(usage);
    }

    /// <summary>
    /// Writes a charge made elsewhere (the shared admission in Redis); returns once it is durable on this instance (the
    /// outbox). A held row waits there until <see cref="Release"/> (after its charge reached Redis).
    /// </summary>
    public Task RecordAsync(UsageRecord usage, bool held = false) => writer.WriteAsync(usage, held);

    /// <summary>Lets a held row go on to the store.</summary>
    public void Release(string requestId) => writer.Release(requestId);

    /// <summary>True while the outbox cannot reach the store (PostgreSQL away): new requests are refused, settlements wait in the outbox.</summary>
    public bool StoreUnavailable => writer.StoreUnavailable;

    /// <summary>Waits until every charge so far is in the store.</summary>
    public Task FlushAsync() => writer.FlushAsync();

    public ValueTask DisposeAsync() => writer.DisposeAsync();

    /// <summary>What a key has left in its current period (null budget: unlimited), including tokens reserved by requests in flight.</summary>
    public async Task<(long? Budget, long? Remaining, DateTimeOffset? ResetsAt)> RemainingAsync(KeyRecord key, CancellationToken cancel)
    {
        var now = time.GetUtcNow();
        if (key.Limits.BudgetTokens is not { } budget) return (null, null, BudgetPeriods.End(key.Limits.Period, now));
        var account = await AccountAsync(key.Id, BudgetPeriods.Start(key.Limits.Period, now), cancel);
        lock (gate) return (budget, Math.Max(0, budget - account.Used - account.Reserved), BudgetPeriods.End(key.Limits.Period, now));
    }

    /// <summary>Global tokens charged today (in this process's view).</summary>
    public async Task<long> GlobalUsedTodayAsync(CancellationToken cancel)
    {
        var account = await AccountAsync(GlobalAccount, BudgetPeriods.Start(BudgetPeriod.Day, time.GetUtcNow()), cancel);
        lock (gate) return account.Used;
    }

    /// <summary>Global micro-dollars charged today and still reserved by requests in flight (in this process's view).</summary>
    public async Task<(long Used, long Reserved)> GlobalMicrosTodayAsync(CancellationToken cancel)
    {
        var account = await AccountAsync(GlobalAccount, BudgetPeriods.Start(BudgetPeriod.Day, time.GetUtcNow()), cancel);
        lock (gate) return (account.UsedMicros, account.ReservedMicros);
    }

    async Task<Account> AccountAsync(string id, DateTimeOffset start, CancellationToken cancel)
    {
        lock (gate)
            if (accounts.TryGetValue((id, start), out var existing)) return existing;
        // First touch of this period: read what was charged before (e.g. before a restart). Concurrent first touches may
        // both read; the first to insert wins. No charge can precede the insert, since charges need a reservation on it.
        await writer.FlushAsync();
        var keyId = id == GlobalAccount ? null : id;
        var used = await store.SumUsageAsync(keyId, start, cancel);
        var usedMicros = await store.SumCostAsync(keyId, start, cancel);
        lock (gate)
        {
            if (accounts.TryGetValue((id, start), out var existing)) return existing;
            if (accounts.Count > 100_000) Prune(start);
            return accounts[(id, start)] = new Account(used, usedMicros);
        }
    }

    /// <summary>Drops accounts of finished periods that have nothing in flight.</summary>
    void Prune(DateTimeOffset now)
    {
        foreach (var entry in accounts.Where(a => a.Key.Start < now && a.Value.Reserved == 0 && a.Value.ReservedMicros == 0).ToList()) accounts.Remove(entry.Key);
    }
}
