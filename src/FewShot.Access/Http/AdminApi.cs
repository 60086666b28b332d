using FewShot.Serving.Api;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FewShot.Access.Keys;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
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
/// the page: the calling key's remaining budget and when it resets. Each route is one small handler below; bad input
/// becomes a 4xx in OpenAI's error shape naming the field, and an audit entry.
/// </summary>
public static class AdminApi
{
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var access = app.ServiceProvider.GetRequiredService<AccessRuntime>();
        var admin = app.MapGroup(access.Options.AdminPath).AddEndpointFilter(async (context, next) =>
            context.HttpContext.Items.ContainsKey(AccessMiddleware.AdminItem)
                ? await next(context)
                : new ApiException(401, ErrorTypes.InvalidRequest, "This endpoint needs the admin key.", null, "invalid_api_key").ToResult());
        admin.MapPost("/keys", IssueKeyAsync);
        admin.MapGet("/keys", ListKeysAsync);
        admin.MapGet("/keys/current", CurrentPublicKeyAsync);
        admin.MapGet("/keys/{id}", GetKeyAsync);
        admin.MapPost("/keys/{id}/rotate", RotateKeyAsync);
        admin.MapPost("/keys/{id}/revoke", RevokeKeyAsync);
        admin.MapDelete("/keys/{id}", RevokeKeyAsync);
        admin.MapGet("/usage", UsageAsync);
        admin.MapGet("/audit", AuditAsync);
        app.MapGet("/api/quota", QuotaAsync);
        return app;
    }

    static Task<Results<JsonHttpResult<JsonObject>, ApiErrorResult>> IssueKeyAsync(HttpContext http, AccessRuntime access) => Guarded(http, access, async () =>
    {
        var body = await JsonSerializer.DeserializeAsync<IssueKeyRequest>(http.Request.Body, cancellationToken: http.RequestAborted)
            ?? throw new JsonException("the body must be a JSON object");
        var issued = await access.Keys.IssueAsync(body.ToSpec(Now(access)), Actor(http), http.RequestAborted);
        return TypedResults.Json(KeyJson.Issued(issued, Now(access)), statusCode: 201);
    });

    static Task<Results<JsonHttpResult<JsonObject>, ApiErrorResult>> ListKeysAsync(HttpContext http, AccessRuntime access) => Guarded(http, access, async () =>
    {
        var keys = await access.Keys.ListAsync(http.RequestAborted);
        return TypedResults.Json(new JsonObject { ["data"] = new JsonArray([.. keys.Select(k => (JsonNode)KeyJson.Describe(k, Now(access)))]) });
    });

    static Task<Results<JsonHttpResult<JsonObject>, ApiErrorResult>> CurrentPublicKeyAsync(HttpContext http, AccessRuntime access) => Guarded(http, access, async () =>
        await access.Keys.CurrentPublicKeyAsync(http.RequestAborted) is { } info
            ? TypedResults.Json(KeyJson.Public(info))
            : throw new ApiException(404, ErrorTypes.InvalidRequest, "No public rotating key is configured.", null, "no_public_key"));

    static Task<Results<JsonHttpResult<JsonObject>, ApiErrorResult>> GetKeyAsync(HttpContext http, AccessRuntime access, string id) => Guarded(http, access, async () =>
        TypedResults.Json(KeyJson.Describe(await access.Keys.GetAsync(id, http.RequestAborted), Now(access))));

    static Task<Results<JsonHttpResult<JsonObject>, ApiErrorResult>> RotateKeyAsync(HttpContext http, AccessRuntime access, string id, double? grace_seconds) => Guarded(http, access, async () =>
    {
        if (grace_seconds is < 0 or > 30 * 86400) throw new LimitException("grace_seconds", "grace_seconds must be between 0 and 30 days");
        var issued = await access.Keys.RotateAsync(id, TimeSpan.FromSeconds(grace_seconds ?? 0), Actor(http), http.RequestAborted);
        return TypedResults.Json(KeyJson.Issued(issued, Now(access)));
    });

    static Task<Results<JsonHttpResult<JsonObject>, ApiErrorResult>> RevokeKeyAsync(HttpContext http, AccessRuntime access, string id) => Guarded(http, access, async () =>
        TypedResults.Json(KeyJson.Describe(await access.Keys.RevokeAsync(id, Actor(http), http.RequestAborted), Now(access))));

    static Task<Results<JsonHttpResult<JsonObject>, ApiErrorResult>> UsageAsync(HttpContext http, AccessRuntime access, string? key, string? since) => Guarded(http, access, async () =>
    {
        var from = since is null ? DateTimeOffset.UnixEpoch : Durations.ParseTime(since, Now(access), past: true, "since");
        await access.Budgets.FlushAsync();
        var rows = await access.Store.UsageByKeyAsync(key, from, http.RequestAborted);
        return TypedResults.Json(new JsonObject
        {
            ["since"] = from.ToString("O"),
            ["data"] = new JsonArray([.. rows.Select(r => (JsonNode)KeyJson.Usage(r))]),
            ["global_used_today"] = await access.Budgets.GlobalUsedTodayAsync(http.RequestAborted),
            ["global_daily_budget"] = access.Budgets.GlobalDailyBudget,
        });
    });

    static Task<Results<JsonHttpResult<JsonObject>, ApiErrorResult>> AuditAsync(HttpContext http, AccessRuntime access, string? since, int? limit) => Guarded(http, access, async () =>
    {
        var from = since is null ? Now(access).AddDays(-1) : Durations.ParseTime(since, Now(access), past: true, "since");
        var rows = await access.Store.ReadAuditAsync(from, Math.Clamp(limit ?? 1000, 1, 10_000), http.RequestAborted);
        return TypedResults.Json(new JsonObject
        {
            ["data"] = new JsonArray([.. rows.Select(r => (JsonNode)new JsonObject
            {
                ["at"] = r.At.ToString("O"), ["event"] = r.Event, ["key_id"] = r.KeyId, ["client_ip"] = r.ClientIp, ["detail"] = r.Detail,
            })]),
        });
    });

    /// <summary>GET /api/quota: {"remaining_tokens","budget_tokens","resets_at","period"} for the calling key (nulls: unlimited / never).</summary>
    static async Task<Results<JsonHttpResult<JsonObject>, ApiErrorResult>> QuotaAsync(HttpContext http, AccessRuntime access)
    {
        if (http.Features.Get<AccessPrincipal>() is not { } principal)
            return new ApiException(401, ErrorTypes.InvalidRequest, "Missing API key: send it in the Authorization header as 'Bearer YOUR_KEY'.", null, "invalid_api_key").ToResult();
        var key = principal.Key;
        var (budget, remaining, resetsAt) = await access.Budgets.RemainingAsync(key, http.RequestAborted);
        return TypedResults.Json(new JsonObject
        {
            ["remaining_tokens"] = remaining,
            ["budget_tokens"] = budget,
            ["resets_at"] = key.Limits.Period == BudgetPeriod.Never ? null : resetsAt?.ToString("O"),
            ["period"] = KeyLimits.Name(key.Limits.Period),
            ["label"] = key.Label,
            ["key_expires_at"] = key.ExpiresAt?.ToString("O"),
        });
    }

    static DateTimeOffset Now(AccessRuntime access) => access.Options.Time.GetUtcNow();
    static string Actor(HttpContext http) => $"admin@{http.Connection.RemoteIpAddress}";

    /// <summary>Bad input becomes a 4xx in OpenAI's shape (with the offending field as "param") and an audit entry.</summary>
    static async Task<Results<JsonHttpResult<JsonObject>, ApiErrorResult>> Guarded(HttpContext http, AccessRuntime access, Func<Task<JsonHttpResult<JsonObject>>> handler)
    {
        try
        {
            return await handler();
        }
        catch (ApiException e)
        {
            return e.ToResult();
        }
        catch (UnknownKeyException e)
        {
            return new ApiException(404, ErrorTypes.InvalidRequest, e.Message, "id", "key_not_found").ToResult();
        }
        catch (Exception e) when (e is ArgumentException or JsonException or FormatException)
        {
            access.Metrics.Reject("admin_bad_request");
            await access.Keys.AuditAsync("admin_request_rejected", null, Actor(http), $"{http.Request.Method} {http.Request.Path}: {e.Message}");
            return new ApiException(400, ErrorTypes.InvalidRequest, e.Message, (e as LimitException)?.Field, "invalid_value").ToResult();
        }
    }
}
