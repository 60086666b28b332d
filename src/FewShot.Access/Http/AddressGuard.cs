using System.Collections.Concurrent;
using System.Globalization;
using FewShot.Access.Firewall;
using FewShot.Access.Limits;
using FewShot.Serving.Api;

namespace FewShot.Access.Http;

/// <summary>
/// The firewall's per-address state, shared by the middleware and the admission: lockouts (started by failed
/// authentications) and requests per minute, in Redis when the limits are shared (every instance sees the same), else
/// in this process; a lockout learnt from Redis is remembered here too, so that the next request from that address is
/// refused before any key is looked at.
/// </summary>
public sealed class AddressGuard(RedisAdmission? shared, RateLimits limits, Lockouts lockouts, AccessMetrics metrics, AccessOptions options)
{
    /// <summary>
    /// Addresses that Redis found over their requests per minute, with the end of that window (shared limits only): the
    /// next requests from them in the window are refused before their bodies are read, as the firewall did when it
    /// checked every address first.
    /// </summary>
    readonly ConcurrentDictionary<string, (DateTimeOffset Until, LimitCheck Rate)> overRate = new();

    /// <summary>
    /// Checks the address (<paramref name="countRequest"/>: this request counts towards its rate) and counts a failed
    /// authentication (<paramref name="countFailure"/>), in one round trip when shared. Null: Redis is unreachable and
    /// the operator chose to fail closed (a failure alone is then counted in this process, as it always could be).
    /// </summary>
    public async Task<AddressCheck?> CheckAsync(string ip, bool countRequest, bool countFailure)
    {
        if (shared is not null)
        {
            try
            {
                var check = await shared.CheckAddressAsync(ip, countRequest, countFailure);
                if ((check.LockedUntil ?? check.LockoutStarted) is { } until) lockouts.Lock(ip, until);
                return check;
            }
            catch (Exception e) when (RedisAdmission.IsUnavailable(e) && countRequest && options.LimitsFail != "open") { return null; }
            catch (Exception e) when (RedisAdmission.IsUnavailable(e))
            {
                if (countRequest) metrics.Reject("limits_unavailable_fail_open");  // counted, then checked in this process below
            }
        }
        return CheckLocally(ip, countRequest, countFailure);
    }

    /// <summary>The same check with this process's own lockouts and limiters only.</summary>
    public AddressCheck CheckLocally(string ip, bool countRequest, bool countFailure)
    {
        if (lockouts.IsLocked(ip, out var locked)) return new AddressCheck(locked, default);
        var rate = countRequest ? limits.CheckIp(ip) : new LimitCheck(true, options.IpRequestsPerMinute, options.IpRequestsPerMinute, TimeSpan.Zero);
        if (!rate.Passed) return new AddressCheck(null, rate);
        return new AddressCheck(null, rate, countFailure ? lockouts.RecordFailure(ip) : null);
    }

    /// <summary>
    /// What this process already knows about the address without a round trip: locked out, or (shared limits) over its
    /// rate for the rest of the window; null when nothing is known against it.
    /// </summary>
    public AddressCheck? KnownRefusal(string ip)
    {
        if (lockouts.IsLocked(ip, out var until)) return new AddressCheck(until, default);
        if (!overRate.TryGetValue(ip, out var known)) return null;
        var left = known.Until - options.Time.GetUtcNow();
        if (left > TimeSpan.Zero) return new AddressCheck(null, known.Rate with { Reset = left });
        overRate.TryRemove(ip, out _);
        return null;
    }

    /// <summary>
    /// The answer for an admission that Redis refused because of the caller's address (its lockout, remembered here
    /// from now on, or its requests per minute); null for a refusal of any other kind.
    /// </summary>
    public ApiException? AdmissionRefusal(string ip, RedisAdmission.Refusal? refusal)
    {
        switch (refusal?.Kind)
        {
            case "address_locked":
                var until = options.Time.GetUtcNow() + refusal.Reset;
                lockouts.Lock(ip, until);
                return Refusal(ip, new AddressCheck(until, default));
            case "address_requests":
                return Refusal(ip, new AddressCheck(null, new LimitCheck(false, refusal.Limit, 0, refusal.Reset)));
            default:
                return null;
        }
    }

    /// <summary>
    /// The answer for an address that may not go on (counted by reason): 503 when the check could not be made, 403 while
    /// it is locked out, 429 over its requests per minute; null when it passed.
    /// </summary>
    public ApiException? Refusal(string ip, AddressCheck? check)
    {
        if (check is not { } c)
        {
            metrics.Reject("limits_unavailable");
            return AccessMiddleware.Unavailable("its limits");
        }
        if (c.LockedUntil is { } until)
        {
            metrics.Reject("ip_locked_out");
            return new ApiException(403, ErrorTypes.AccessDenied,
                $"Too many failed authentications from {ip}; locked out until {until:yyyy-MM-dd HH:mm:ss} UTC.", null, "ip_locked_out",
                new Dictionary<string, string> { ["Retry-After"] = AccessMiddleware.Seconds(until - options.Time.GetUtcNow()) });
        }
        if (c.Rate.Passed) return null;
        var rate = c.Rate;
        if (shared is not null)
        {
            if (overRate.Count > 100_000) overRate.Clear();
            overRate[ip] = (options.Time.GetUtcNow() + rate.Reset, rate);
        }
        metrics.Reject("ip_rate_limited");
        return new ApiException(429, ErrorTypes.RateLimit,
            $"Rate limit reached for requests from {ip}: {rate.Limit} per minute. Try again in {Keys.Durations.Format(rate.Reset)}.", null,
            "rate_limit_exceeded", new Dictionary<string, string>
            {
                ["Retry-After"] = AccessMiddleware.Seconds(rate.Reset),
                ["x-ratelimit-limit-requests"] = rate.Limit.ToString(CultureInfo.InvariantCulture),
                ["x-ratelimit-remaining-requests"] = "0",
                ["x-ratelimit-reset-requests"] = Keys.Durations.Format(rate.Reset),
            });
    }
}

/// <summary>
/// Set by the middleware on a generation whose address the admission checks (shared limits): the admission makes the
/// check inside its own script and marks it done; one that never reaches the admission is counted by the middleware after.
/// </summary>
sealed class PendingAddressCheck(string ip)
{
    public string Ip => ip;
    public bool Done { get; set; }
}
