using Microsoft.Extensions.Logging;
using FewShot.Access.Keys;
using FewShot.Access.Storage;

namespace FewShot.Access.Budgets;

/// <summary>
/// Token budgets held in memory and checked atomically: per key per period, and the service's daily balance.
/// An account is loaded once from the store's usage sum when its period is first touched; from then on this process is
/// the only writer of that account, so "used + reserved + this request &lt;= budget" under one lock can never overspend,
/// however many requests arrive at once. Charged usage is also written to the store (for restarts and reports) by
/// <see cref="UsageWriter"/>, behind the requests, so no request waits for a disk write.
/// </summary>
public sealed class BudgetLedger(IAccessStore store, TimeProvider time, long? globalDailyBudget, ILogger? log = null) : IAsyncDisposable
{
    readonly UsageWriter writer = new(store, log);

    public const string GlobalAccount = "*global*";

    internal sealed class Account(long used)
    {
        public long Used = used;
        public long Reserved;
    }

    readonly Lock gate = new();
    readonly Dictionary<(string Id, DateTimeOffset Start), Account> accounts = [];

    public long? GlobalDailyBudget { get; } = globalDailyBudget;

    /// <summary>A reservation of <see cref="Tokens"/> against a key's account and the global one.</summary>
    public sealed class Reservation
    {
        internal Account? Key;
        internal Account? Global;
        public required string KeyId { get; init; }
        public required long Tokens { get; init; }
        public required DateTimeOffset At { get; init; }
        internal int settled;
    }

    /// <summary>Which budget stopped a request, and when it resets (null: never).</summary>
    public sealed record Shortfall(bool IsGlobal, long Budget, long Remaining, DateTimeOffset? ResetsAt);

    public async Task<(Reservation? Reservation, Shortfall? Shortfall)> TryReserveAsync(KeyRecord key, long tokens, CancellationToken cancel)
    {
        var now = time.GetUtcNow();
        var keyBudget = key.Limits.BudgetTokens;
        var keyStart = BudgetPeriods.Start(key.Limits.Period, now);
        var dayStart = BudgetPeriods.Start(BudgetPeriod.Day, now);
        var keyAccount = keyBudget is null ? null : await AccountAsync(key.Id, keyStart, cancel);
        var globalAccount = GlobalDailyBudget is null ? null : await AccountAsync(GlobalAccount, dayStart, cancel);

        lock (gate)
        {
            if (keyAccount is not null && keyAccount.Used + keyAccount.Reserved + tokens > keyBudget)
                return (null, new Shortfall(false, keyBudget!.Value, Math.Max(0, keyBudget.Value - keyAccount.Used - keyAccount.Reserved),
                    BudgetPeriods.End(key.Limits.Period, now)));
            if (globalAccount is not null && globalAccount.Used + globalAccount.Reserved + tokens > GlobalDailyBudget)
                return (null, new Shortfall(true, GlobalDailyBudget!.Value, Math.Max(0, GlobalDailyBudget.Value - globalAccount.Used - globalAccount.Reserved),
                    BudgetPeriods.End(BudgetPeriod.Day, now)));
            if (keyAccount is not null) keyAccount.Reserved += tokens;
            if (globalAccount is not null) globalAccount.Reserved += tokens;
        }
        return (new Reservation { Key = keyAccount, Global = globalAccount, KeyId = key.Id, Tokens = tokens, At = now }, null);
    }

    /// <summary>Charges what was used (at most what was reserved) and releases the rest. Idempotent.</summary>
    public void Settle(Reservation reservation, UsageRecord? usage)
    {
        if (Interlocked.Exchange(ref reservation.settled, 1) != 0) return;
        // A server that reports more than the worst case it asked for is charged the worst case (the budget is a promise).
        if (usage is not null && usage.Total > reservation.Tokens)
        {
            var prompt = (int)Math.Min(usage.PromptTokens, reservation.Tokens);
            usage = usage with { PromptTokens = prompt, CompletionTokens = (int)(reservation.Tokens - prompt) };
        }
        var charged = usage?.Total ?? 0;
        lock (gate)
        {
            if (reservation.Key is { } k) { k.Reserved -= reservation.Tokens; k.Used += charged; }
            if (reservation.Global is { } g) { g.Reserved -= reservation.Tokens; g.Used += charged; }
        }
        if (usage is not null && usage.Total > 0) writer.Enqueue(usage);
    }

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

    async Task<Account> AccountAsync(string id, DateTimeOffset start, CancellationToken cancel)
    {
        lock (gate)
            if (accounts.TryGetValue((id, start), out var existing)) return existing;
        // First touch of this period: read what was charged before (e.g. before a restart). Concurrent first touches may
        // both read; the first to insert wins. No charge can precede the insert, since charges need a reservation on it.
        await writer.FlushAsync();
        var used = await store.SumUsageAsync(id == GlobalAccount ? null : id, start, cancel);
        lock (gate)
        {
            if (accounts.TryGetValue((id, start), out var existing)) return existing;
            if (accounts.Count > 100_000) Prune(start);
            return accounts[(id, start)] = new Account(used);
        }
    }

    /// <summary>Drops accounts of finished periods that have nothing in flight.</summary>
    void Prune(DateTimeOffset now)
    {
        foreach (var entry in accounts.Where(a => a.Key.Start < now && a.Value.Reserved == 0).ToList()) accounts.Remove(entry.Key);
    }
}
