using System.Collections.Concurrent;

namespace FewShot.Access.Firewall;

/// <summary>
/// Locks out an address after <c>threshold</c> failed authentications within <c>window</c>. Each further lockout of the same
/// address lasts <c>factor</c> times longer (1 min, 4 min, 16 min, ... up to <c>max</c>); strikes are forgotten after a day
/// without one. Memory is bounded: when more than 100,000 addresses are tracked, idle ones are dropped.
/// </summary>
public sealed class Lockouts(int threshold, TimeSpan window, TimeSpan first, double factor, TimeSpan max, TimeProvider time)
{
    sealed class State
    {
        public int Failures;
        public DateTimeOffset WindowStart;
        public DateTimeOffset LockedUntil;
        public int Strikes;
        public DateTimeOffset LastStrike;
    }

    readonly ConcurrentDictionary<string, State> states = new();

    public int Threshold => threshold;

    /// <summary>True while the address is locked out; <paramref name="until"/> says till when.</summary>
    public bool IsLocked(string ip, out DateTimeOffset until)
    {
        until = default;
        if (!states.TryGetValue(ip, out var state)) return false;
        lock (state)
        {
            until = state.LockedUntil;
            return until > time.GetUtcNow();
        }
    }

    /// <summary>Locks the address out until <paramref name="until"/> (a lockout started elsewhere, e.g. by another instance through Redis).</summary>
    public void Lock(string ip, DateTimeOffset until)
    {
        if (states.Count > 100_000) Prune();
        var state = states.GetOrAdd(ip, _ => new State());
        lock (state) if (until > state.LockedUntil) state.LockedUntil = until;
    }

    /// <summary>Counts a failure; returns the lockout's end if this failure starts one.</summary>
    public DateTimeOffset? RecordFailure(string ip)
    {
        if (states.Count > 100_000) Prune();
        var state = states.GetOrAdd(ip, _ => new State());
        var now = time.GetUtcNow();
        lock (state)
        {
            if (state.LockedUntil > now) return null;
            if (now - state.WindowStart > window) { state.WindowStart = now; state.Failures = 0; }
            if (++state.Failures < threshold) return null;
            if (now - state.LastStrike > TimeSpan.FromDays(1)) state.Strikes = 0;
            var length = TimeSpan.FromTicks((long)Math.Min(max.Ticks, first.Ticks * Math.Pow(factor, state.Strikes)));
            state.Strikes++;
            state.LastStrike = now;
            state.Failures = 0;
            state.LockedUntil = now + length;
            return state.LockedUntil;
        }
    }

    void Prune()
    {
        var now = time.GetUtcNow();
        foreach (var (ip, state) in states)
            lock (state)
                if (state.LockedUntil < now && now - state.WindowStart > window && now - state.LastStrike > TimeSpan.FromDays(1)) states.TryRemove(ip, out _);
    }
}
