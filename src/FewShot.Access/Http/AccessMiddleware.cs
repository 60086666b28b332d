using FewShot.Serving.Api;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using FewShot.Access.Limits;
using FewShot.Access.Storage;

namespace FewShot.Access.Http;

/// <summary>
/// The firewall in front of every route, in this order: client address (X-Forwarded-For only from trusted proxies),
/// deny/allow lists, lockout, then for /v1, /api and /admin: requests per minute per address, body size, and the key
/// (the admin key for /admin). Failed keys count towards the address's lockout; a locked-out address is refused before
/// any key is hashed or looked up, so a flood of guesses costs almost nothing and generates nothing.
/// </summary>
public sealed class AccessMiddleware(RequestDelegate next, AccessRuntime access)
{
    internal const string AdminItem = "fewshot.access.admin";

    public async Task InvokeAsync(HttpContext http)
    {
        var ip = Firewall.ClientAddress.Resolve(http.Connection.RemoteIpAddress, http.Request.Headers["X-Forwarded-For"], access.TrustedProxies);
        http.Connection.RemoteIpAddress = ip;
        var ipText = ip.ToString();

        if (access.Denied.Contains(ip) || (!access.Allowed.IsEmpty && !access.Allowed.Contains(ip)))
        {
            await RejectAsync(http, "ip_denied", 403, ErrorTypes.AccessDenied, "ip_denied", $"Requests from {ipText} are not allowed.");
            return;
        }
        var path = http.Request.Path;
        var isAdmin = path.StartsWithSegments(access.Options.AdminPath);
        // CORS preflights carry no credentials and never reach a handler that generates or changes anything.
        var keyed = !HttpMethods.IsOptions(http.Request.Method) && (isAdmin || access.Options.KeyPaths.Any(p => path.StartsWithSegments(p)));
        var (lockedUntil, perIp) = keyed ? await CheckAddressAsync(ipText) : (Locked(ipText), null);
        if (lockedUntil is { } until)
        {
            await RejectAsync(http, "ip_locked_out", 403, ErrorTypes.AccessDenied, "ip_locked_out",
                $"Too many failed authentications from {ipText}; locked out until {until:yyyy-MM-dd HH:mm:ss} UTC.", RetryAfter(until));
            return;
        }
        if (!keyed)
        {
            await next(http);
            return;
        }
        if (perIp is null)
        {
            access.Metrics.Reject("limits_unavailable");
            await Unavailable("its limits").WriteAsync(http);
            return;
        }
        if (!perIp.Value.Passed)
        {
            var rate = perIp.Value;
            await RejectAsync(http, "ip_rate_limited", 429, ErrorTypes.RateLimit, "rate_limit_exceeded",
                $"Rate limit reached for requests from {ipText}: {rate.Limit} per minute. Try again in {Keys.Durations.Format(rate.Reset)}.",
                new Dictionary<string, string>
                {
                    ["Retry-After"] = Seconds(rate.Reset),
                    ["x-ratelimit-limit-requests"] = rate.Limit.ToString(CultureInfo.InvariantCulture),
                    ["x-ratelimit-remaining-requests"] = "0",
                    ["x-ratelimit-reset-requests"] = Keys.Durations.Format(rate.Reset),
                });
            return;
        }

        try { await KeyedAsync(http, ipText, isAdmin); }
        catch (Exception e) when (StoreErrors.IsUnavailable(e) && !http.Response.HasStarted)
        {
            // The store (PostgreSQL) is away: no key can be checked and nothing new is admitted; running requests settle into the outbox.
            access.Metrics.Reject("store_unavailable");
            await Unavailable("its keys").WriteAsync(http);
        }
    }

    /// <summary>A 503 in the API's error format with Retry-After: something the checks need is unreachable for now.</summary>
    internal static ApiException Unavailable(string what, TimeSpan? retry = null) => new(503, ErrorTypes.Server,
        $"The service cannot check {what} right now; try again shortly.", null, "service_unavailable",
        new Dictionary<string, string> { ["Retry-After"] = retry is { } r ? Seconds(r) : "2" });

    /// <summary>
    /// The address's lockout and its requests per minute: in Redis when the limits are shared (every instance sees the
    /// same), else in this process. A null rate means Redis is unreachable and the operator chose to fail closed.
    /// </summary>
    async Task<(DateTimeOffset? LockedUntil, LimitCheck? Rate)> CheckAddressAsync(string ip)
    {
        if (access.Shared is { } shared)
        {
            try
            {
                var check = await shared.CheckAddressAsync(ip);
                if (check.LockedUntil is { } until) access.Lockouts.Lock(ip, until);  // remembered here for the paths that need no key
                return (check.LockedUntil, check.Rate);
            }
            catch (Exception e) when (RedisAdmission.IsUnavailable(e) && access.Options.LimitsFail != "open") { return (null, null); }
            catch (Exception e) when (RedisAdmission.IsUnavailable(e)) { access.Metrics.Reject("limits_unavailable_fail_open"); }
        }
        return Locked(ip) is { } locked ? (locked, null) : (null, access.Limits.CheckIp(ip));
    }

    DateTimeOffset? Locked(string ip) => access.Lockouts.IsLocked(ip, out var until) ? until : null;

    /// <summary>A failed authentication counted towards the address's lockout (in Redis when shared); the lockout's end if this one starts it.</summary>
    async Task<DateTimeOffset?> RecordFailureAsync(string ip)
    {
        if (access.Shared is { } shared)
        {
            try
            {
                var until = await shared.RecordFailureAsync(ip);
                if (until is { } u) access.Lockouts.Lock(ip, u);
                return until;
            }
            catch (Exception e) when (RedisAdmission.IsUnavailable(e)) { }  // counted here instead
        }
        return access.Lockouts.RecordFailure(ip);
    }

    /// <summary>The body size, then the key (the admin key for the admin path), then the route.</summary>
    async Task KeyedAsync(HttpContext http, string ipText, bool isAdmin)
    {
        var maxBody = access.Options.MaxRequestBodyBytes;
        if (http.Request.ContentLength > maxBody)
        {
            await RejectAsync(http, "body_too_large", 413, ErrorTypes.InvalidRequest, "request_too_large",
                $"The request body of {http.Request.ContentLength} bytes exceeds the limit of {maxBody} bytes.");
            return;
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize) bodySize.MaxRequestBodySize = maxBody;

        var header = http.Request.Headers.Authorization.ToString();
        string? presented = null;
        var malformedHeader = false;
        if (header.Length > 0)
        {
            if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) presented = header[7..].Trim();
            else malformedHeader = true;
        }

        if (isAdmin)
        {
            if (access.Keys.IsAdminKey(presented))
            {
                http.Items[AdminItem] = true;
                await next(http);
                return;
            }
            await FailAsync(http, ipText, "admin_auth_failed", presented is null && !malformedHeader ? "missing_key" : "admin_auth_failed",
                "This endpoint needs the admin key: 'Authorization: Bearer fsa-…'.", keyId: null, audit: true);
            return;
        }

        var outcome = malformedHeader ? Keys.AuthOutcome.Malformed : await access.Keys.AuthenticateAsync(presented, http.RequestAborted);
        if (!outcome.Succeeded)
        {
            await FailAsync(http, ipText, outcome.Reason!, outcome.Reason!, outcome.Message, outcome.KeyId, outcome.IsSecurityEvent);
            return;
        }
        http.Features.Set(new AccessPrincipal(outcome.Key!, ipText));
        await next(http);
    }

    /// <summary>A failed authentication: 401, counted towards a lockout (except a missing key, which costs us nothing), audited where it matters.</summary>
    async Task FailAsync(HttpContext http, string ip, string auditEvent, string reason, string message, string? keyId, bool audit)
    {
        if (audit) await access.Keys.AuditAsync(auditEvent, keyId, ip, $"{http.Request.Method} {http.Request.Path}");
        if (reason != "missing_key" && await RecordFailureAsync(ip) is { } lockedUntil)
        {
            access.Metrics.Reject("lockout_started");
            await access.Keys.AuditAsync("ip_locked_out", null, ip, $"after {access.Lockouts.Threshold} failed authentications; until {lockedUntil:O}");
        }
        await RejectAsync(http, reason, 401, ErrorTypes.InvalidRequest, "invalid_api_key", message);
    }

    async Task RejectAsync(HttpContext http, string reason, int status, string type, string code, string message,
        IReadOnlyDictionary<string, string>? headers = null)
    {
        access.Metrics.Reject(reason);
        await new ApiException(status, type, message, null, code, headers).WriteAsync(http);
    }

    Dictionary<string, string> RetryAfter(DateTimeOffset until) => new() { ["Retry-After"] = Seconds(until - access.Options.Time.GetUtcNow()) };

    internal static string Seconds(TimeSpan span) => Math.Max(1, (long)Math.Ceiling(span.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}
