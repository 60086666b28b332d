using FewShot.Serving.Api;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using FewShot.Access.Limits;
using FewShot.Access.Storage;
using FewShot.Serving.Pipeline;

namespace FewShot.Access.Http;

/// <summary>
/// The firewall in front of every route, in this order: client address (X-Forwarded-For only from trusted proxies),
/// deny/allow lists, lockout, then for /v1, /api and /admin: requests per minute per address, body size, and the key
/// (the admin key for /admin). Failed keys count towards the address's lockout; a locked-out address is refused before
/// any key is hashed or looked up, so a flood of guesses costs almost nothing and generates nothing. With shared limits
/// a generation's address is checked by its admission's one Redis script instead (a lockout this instance already knows
/// of still refuses it first), and a failed key's by the one script that counts the failure.
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
        var addresses = access.Addresses;
        if (!keyed)
        {
            if (access.Lockouts.IsLocked(ipText, out var until) && addresses.Refusal(ipText, new AddressCheck(until, default)) is { } locked)
            {
                await locked.WriteAsync(http);
                return;
            }
            await next(http);
            return;
        }
        if (access.Shared is not null && !isAdmin && http.GetEndpoint()?.Metadata.GetMetadata<AdmittedThroughGate>() is not null)
        {
            // A generation: its admission checks the address in the same Redis script; only what is known here is checked now.
            if (addresses.KnownRefusal(ipText) is { } known && addresses.Refusal(ipText, known) is { } refusedHere)
            {
                await refusedHere.WriteAsync(http);
                return;
            }
            var pending = new PendingAddressCheck(ipText);
            http.Features.Set(pending);
            await KeyedAsync(http, ipText, isAdmin, pending);
            // Refused before its admission (a malformed body, an unknown model): it still counts towards the address's rate.
            if (!pending.Done) await addresses.CheckAsync(ipText, countRequest: true, countFailure: false);
            return;
        }
        if (addresses.Refusal(ipText, await addresses.CheckAsync(ipText, countRequest: true, countFailure: false)) is { } refused)
        {
            await refused.WriteAsync(http);
            return;
        }
        await KeyedAsync(http, ipText, isAdmin, pending: null);
    }

    /// <summary>The key and the route, answering 503 when the store (PostgreSQL) that holds the keys is away.</summary>
    async Task KeyedAsync(HttpContext http, string ipText, bool isAdmin, PendingAddressCheck? pending)
    {
        try { await CheckKeyAsync(http, ipText, isAdmin, pending); }
        catch (Exception e) when (StoreErrors.IsUnavailable(e) && !http.Response.HasStarted)
        {
            // No key can be checked and nothing new is admitted; running requests settle into the outbox.
            access.Metrics.Reject("store_unavailable");
            await Unavailable("its keys").WriteAsync(http);
        }
    }

    /// <summary>A 503 in the API's error format with Retry-After: something the checks need is unreachable for now.</summary>
    internal static ApiException Unavailable(string what, TimeSpan? retry = null) => new(503, ErrorTypes.Server,
        $"The service cannot check {what} right now; try again shortly.", null, "service_unavailable",
        new Dictionary<string, string> { ["Retry-After"] = retry is { } r ? Seconds(r) : "2" });

    /// <summary>The body size, then the key (the admin key for the admin path), then the route.</summary>
    async Task CheckKeyAsync(HttpContext http, string ipText, bool isAdmin, PendingAddressCheck? pending)
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
                "This endpoint needs the admin key: 'Authorization: Bearer fsa-…'.", keyId: null, audit: true, pending);
            return;
        }

        var outcome = malformedHeader ? Keys.AuthOutcome.Malformed : await access.Keys.AuthenticateAsync(presented, http.RequestAborted);
        if (!outcome.Succeeded)
        {
            await FailAsync(http, ipText, outcome.Reason!, outcome.Reason!, outcome.Message, outcome.KeyId, outcome.IsSecurityEvent, pending);
            return;
        }
        http.Features.Set(new AccessPrincipal(outcome.Key!, ipText));
        await next(http);
    }

    /// <summary>
    /// A failed authentication: 401, counted towards a lockout (except a missing key, which costs us nothing), audited
    /// where it matters. A generation whose address was left to its admission has it checked and counted here instead,
    /// in the same round trip as the failure, and gets 403 or 429 when the address is locked out or over its rate.
    /// </summary>
    async Task FailAsync(HttpContext http, string ip, string auditEvent, string reason, string message, string? keyId, bool audit,
        PendingAddressCheck? pending)
    {
        var countFailure = reason != "missing_key";
        AddressCheck? address = null;
        if (pending is not null)
        {
            pending.Done = true;
            address = await access.Addresses.CheckAsync(ip, countRequest: true, countFailure);
            if (access.Addresses.Refusal(ip, address) is { } refused)
            {
                await refused.WriteAsync(http);
                return;
            }
        }
        else if (countFailure) address = await access.Addresses.CheckAsync(ip, countRequest: false, countFailure: true);
        if (audit) await access.Keys.AuditAsync(auditEvent, keyId, ip, $"{http.Request.Method} {http.Request.Path}");
        if (address?.LockoutStarted is { } lockedUntil)
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

    internal static string Seconds(TimeSpan span) => Math.Max(1, (long)Math.Ceiling(span.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}
