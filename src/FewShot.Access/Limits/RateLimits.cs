using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using FewShot.Access.Keys;

namespace FewShot.Access.Limits;

/// <summary>A limit check: passed or not, the limit, what remains, and when it frees up (for OpenAI's x-ratelimit-* headers).</summary>
public readonly record struct LimitCheck(bool Passed, long Limit, long Remaining, TimeSpan Reset);

/// <summary>
/// What the firewall found for an address: locked out (until when), else its per-address rate, and the end of the
/// lockout that this request's failed authentication started, if it did.
/// </summary>
public readonly record struct AddressCheck(DateTimeOffset? LockedUntil, LimitCheck Rate, DateTimeOffset? LockoutStarted = null);

/// <summary>
/// Sliding-window limiters from System.Threading.RateLimiting: requests per minute per client IP, requests and tokens per
/// minute per key (tokens counted at their worst case, as reserved), and one concurrency limiter for generations in flight.
/// A window of one minute in six segments: a burst is forgotten ten seconds at a time.
/// </summary>
public sealed class RateLimits : IDisposable
{
    static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    const int Segments = 6;
    static readonly TimeSpan Segment = Window / Segments;

    sealed record KeyLimiters(int? Rpm, int? Tpm, SlidingWindowRateLimiter? Requests, SlidingWindowRateLimiter? Tokens);

    readonly int ipRpm;
    readonly ConcurrentDictionary<string, SlidingWindowRateLimiter> perIp = new();
    readonly ConcurrentDictionary<string, KeyLimiters> perKey = new();

    public ConcurrencyLimiter Concurrency { get; }

    public RateLimits(int ipRequestsPerMinute, int concurrency, int queue)
    {
        ipRpm = ipRequestsPerMinute;
        Concurrency = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = concurrency, QueueLimit = queue, QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    static SlidingWindowRateLimiter Create(int permits) => new(new SlidingWindowRateLimiterOptions
    {
        PermitLimit = permits, Window = Window, SegmentsPerWindow = Segments, QueueLimit = 0, AutoReplenishment = true,
    });

    public LimitCheck CheckIp(string ip)
    {
        if (perIp.Count > 100_000) PruneIdle();
        return Acquire(perIp.GetOrAdd(ip, _ => Create(ipRpm)), ipRpm, 1);
    }

    public LimitCheck? CheckKeyRequests(KeyRecord key) => Limiters(key) is { Requests: { } limiter, Rpm: { } rpm } ? Acquire(limiter, rpm, 1) : null;

    public LimitCheck? CheckKeyTokens(KeyRecord key, long tokens) =>
        Limiters(key) is { Tokens: { } limiter, Tpm: { } tpm }
            ? tokens > tpm ? new LimitCheck(false, tpm, limiter.GetStatistics()?.CurrentAvailablePermits ?? 0, Window) : Acquire(limiter, tpm, (int)tokens)
            : null;

    KeyLimiters Limiters(KeyRecord key)
    {
        var (rpm, tpm) = (key.Limits.RequestsPerMinute, key.Limits.TokensPerMinute);
        if (perKey.TryGetValue(key.Id, out var existing) && existing.Rpm == rpm && existing.Tpm == tpm) return existing;
        // New key, or its limits were changed by an admin: start fresh limiters with the new numbers.
        var fresh = new KeyLimiters(rpm, tpm, rpm is { } r ? Create(r) : null, tpm is { } t ? Create(t) : null);
        perKey[key.Id] = fresh;
        return fresh;
    }

    static LimitCheck Acquire(SlidingWindowRateLimiter limiter, long limit, int permits)
    {
        using var lease = limiter.AttemptAcquire(permits);
        var remaining = limiter.GetStatistics()?.CurrentAvailablePermits ?? 0;
        var reset = lease.TryGetMetadata(MetadataName.RetryAfter, out var retry) ? retry : Segment;
        return new LimitCheck(lease.IsAcquired, limit, remaining, lease.IsAcquired ? Segment : reset);
    }

    void PruneIdle()
    {
        foreach (var (ip, limiter) in perIp)
            if (limiter.GetStatistics()?.CurrentAvailablePermits == ipRpm && perIp.TryRemove(ip, out var removed)) removed.Dispose();
    }

    public void Dispose()
    {
        Concurrency.Dispose();
        foreach (var limiter in perIp.Values) limiter.Dispose();
        foreach (var limiters in perKey.Values) { limiters.Requests?.Dispose(); limiters.Tokens?.Dispose(); }
    }
}
