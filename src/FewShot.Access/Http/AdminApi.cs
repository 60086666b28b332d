using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FewShot.Access.Keys;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace FewShot.Access.Http;

/// <summary>The body of POST /admin/keys (all optional; absent limits mean "no limit").</summary>
public sealed record IssueKeyRequest(
    [property: JsonPropertyName("label")] string? Label,
    [property: JsonPropertyName("budget_tokens")] long? BudgetTokens,
    [property: JsonPropertyName("period")] string? Period,
    [property: JsonPropertyName("rpm")] long? Rpm,
    [property: JsonPropertyName("tpm")] long? Tpm,
    [property: JsonPropertyName("max_tokens")] long? MaxTokens,
    [property: JsonPropertyName("max_prompt_tokens")] long? MaxPromptTokens,
    [property: JsonPropertyName("expires")] string? Expires,
    [property: JsonPropertyName("models")] string[]? Models,
    [property: JsonPropertyName("modes")] string[]? Modes,
    [property: JsonPropertyName("budget_usd")] decimal? BudgetUsd = null)
{
    /// <summary>Turns the request into a spec; throws LimitException naming the field for anything out of range.</summary>
    public KeySpec ToSpec(DateTimeOffset now) => new KeySpec(
        Label ?? "",
        Expires is null ? null : Durations.ParseTime(Expires, now, past: false, "expires"),
        Models ?? [], Modes ?? [],
        KeyLimits.Create(BudgetTokens, Period is null ? BudgetPeriod.Day : KeyLimits.ParsePeriod(Period), Rpm, Tpm, MaxTokens, MaxPromptTokens, BudgetUsd))
        .Validated(now);
}

/// <summary>
/// /admin: issue, list, show, rotate, revoke keys, read usage and the audit log; all need the admin key (checked by
/// the middleware, and again here so the routes are safe even if the middleware were left out). Also GET /api/quota for
/// the page: the calling key's remaining budget and when it resets.
/// </summary>
public static class AdminApi
{
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var access = app.ServiceProvider.GetRequiredService<AccessRuntime>();
        var admin = app.MapGroup(access.Options.AdminPath).AddEndpointFilter(async (context, next) =>
            context.HttpContext.Items.ContainsKey(AccessMiddleware.AdminItem)
                ? await next(context)
                : OpenAiError.Result(401, OpenAiError.Authentication, "invalid_api_key", "This endpoint needs the admin key."));

        admin.MapPost("/keys", Endpoint(http => Guarded(http, access, async () =>
        {
            var body = await JsonSerializer.DeserializeAsync<IssueKeyRequest>(http.Request.Body, cancellationToken: http.RequestAborted)
                ?? throw new JsonException("the body must be a JSON object");
            var issued = await access.Keys.IssueAsync(body.ToSpec(Now(access)), Actor(http), http.RequestAborted);
            return Results.Json(KeyJson.Issued(issued, Now(access)), statusCode: 201);
        })));
        admin.MapGet("/keys", Endpoint(http => Guarded(http, access, async () =>
        {
            var keys = await access.Keys.ListAsync(http.RequestAborted);
            return Results.Json(new JsonObject { ["data"] = new JsonArray(keys.Select(k => (JsonNode)KeyJson.Describe(k, Now(access))).ToArray()) });
        })));
        admin.MapGet("/keys/current", Endpoint(http => Guarded(http, access, async () =>
            await access.Keys.CurrentPublicKeyAsync(http.RequestAborted) is { } info
                ? Results.Json(KeyJson.Public(info))
                : OpenAiError.Result(404, OpenAiError.InvalidRequest, "no_public_key", "No public rotating key is configured."))));
        admin.MapGet("/keys/{id}", (HttpContext http, string id) => Guarded(http, access, async () =>
            Results.Json(KeyJson.Describe(await access.Keys.GetAsync(id, http.RequestAborted), Now(access)))));
        admin.MapPost("/keys/{id}/rotate", (HttpContext http, string id, double? grace_seconds) => Guarded(http, access, async () =>
        {
            if (grace_seconds is < 0 or > 30 * 86400) throw new LimitException("grace_seconds", "grace_seconds must be between 0 and 30 days");
            var issued = await access.Keys.RotateAsync(id, TimeSpan.FromSeconds(grace_seconds ?? 0), Actor(http), http.RequestAborted);
            return Results.Json(KeyJson.Issued(issued, Now(access)));
        }));
        admin.MapPost("/keys/{id}/revoke", (HttpContext http, string id) => Guarded(http, access, async () =>
            Results.Json(KeyJson.Describe(await access.Keys.RevokeAsync(id, Actor(http), http.RequestAborted), Now(access)))));
        admin.MapDelete("/keys/{id}", (HttpContext http, string id) => Guarded(http, access, async () =>
            Results.Json(KeyJson.Describe(await access.Keys.RevokeAsync(id, Actor(http), http.RequestAborted), Now(access)))));
        admin.MapGet("/usage", (HttpContext http, string? key, string? since) => Guarded(http, access, async () =>
        {
            var from = since is null ? DateTimeOffset.UnixEpoch : Durations.ParseTime(since, Now(access), past: true, "since");
            await access.Budgets.FlushAsync();
            var rows = await access.Store.UsageByKeyAsync(key, from, http.RequestAborted);
            return Results.Json(new JsonObject
            {
                ["since"] = from.ToString("O"),
                ["data"] = new JsonArray(rows.Select(r => (JsonNode)KeyJson.Usage(r)).ToArray()),
                ["global_used_today"] = await access.Budgets.GlobalUsedTodayAsync(http.RequestAborted),
                ["global_daily_budget"] = access.Budgets.GlobalDailyBudget,
            });
        }));
        admin.MapGet("/audit", (HttpContext http, string? since, int? limit) => Guarded(http, access, async () =>
        {
            var from = since is null ? Now(access).AddDays(-1) : Durations.ParseTime(since, Now(access), past: true, "since");
            var rows = await access.Store.ReadAuditAsync(from, Math.Clamp(limit ?? 1000, 1, 10_000), http.RequestAborted);
            return Results.Json(new JsonObject
            {
                ["data"] = new JsonArray(rows.Select(r => (JsonNode)new JsonObject
                {
                    ["at"] = r.At.ToString("O"), ["event"] = r.Event, ["key_id"] = r.KeyId, ["client_ip"] = r.ClientIp, ["detail"] = r.Detail,
                }).ToArray()),
            });
        }));

        app.MapGet("/api/quota", Endpoint(http => QuotaAsync(http, access)));
        return app;
    }

    /// <summary>GET /api/quota: {"remaining_tokens","budget_tokens","resets_at","period"} for the calling key (nulls: unlimited / never).</summary>
    static async Task<IResult> QuotaAsync(HttpContext http, AccessRuntime access)
    {
        if (http.Features.Get<AccessPrincipal>() is not { } principal)
            return OpenAiError.Result(401, OpenAiError.Authentication, "invalid_api_key", "Missing API key: send it in the Authorization header as 'Bearer YOUR_KEY'.");
        var key = principal.Key;
        var (budget, remaining, resetsAt) = await access.Budgets.RemainingAsync(key, http.RequestAborted);
        return Results.Json(new JsonObject
        {
            ["remaining_tokens"] = remaining,
            ["budget_tokens"] = budget,
            ["resets_at"] = key.Limits.Period == BudgetPeriod.Never ? null : resetsAt?.ToString("O"),
            ["period"] = KeyLimits.Name(key.Limits.Period),
            ["label"] = key.Label,
            ["key_expires_at"] = key.ExpiresAt?.ToString("O"),
        });
    }

    /// <summary>Makes a handler that takes only HttpContext bind as a route handler (whose IResult is written), not as a RequestDelegate.</summary>
    static Delegate Endpoint(Func<HttpContext, Task<IResult>> handler) => handler;

    static DateTimeOffset Now(AccessRuntime access) => access.Options.Time.GetUtcNow();
    static string Actor(HttpContext http) => $"admin@{http.Connection.RemoteIpAddress}";

    /// <summary>Bad input becomes a 4xx in OpenAI's shape (with the offending field as "param") and an audit entry.</summary>
    static async Task<IResult> Guarded(HttpContext http, AccessRuntime access, Func<Task<IResult>> handler)
    {
        try
        {
            return await handler();
        }
        catch (UnknownKeyException e)
        {
            return OpenAiError.Result(404, OpenAiError.InvalidRequest, "key_not_found", e.Message, "id");
        }
        catch (Exception e) when (e is ArgumentException or JsonException or FormatException)
        {
            access.Metrics.Reject("admin_bad_request");
            await access.Keys.AuditAsync("admin_request_rejected", null, Actor(http), $"{http.Request.Method} {http.Request.Path}: {e.Message}");
            return OpenAiError.Result(400, OpenAiError.InvalidRequest, "invalid_value", e.Message, (e as LimitException)?.Field);
        }
    }
}
