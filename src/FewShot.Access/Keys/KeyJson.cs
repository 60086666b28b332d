using System.Text.Json.Nodes;
using FewShot.Access.Storage;

namespace FewShot.Access.Keys;

/// <summary>How keys and usage look in JSON, the same from `fewshot keys --json` and from the admin API.</summary>
public static class KeyJson
{
    public static JsonObject Describe(KeyRecord key, DateTimeOffset now) => new()
    {
        ["id"] = key.Id,
        ["kind"] = key.Kind.ToString().ToLowerInvariant(),
        ["label"] = key.Label,
        ["hint"] = key.Hint,
        ["status"] = key.Status(now),
        ["created_at"] = key.CreatedAt.ToString("O"),
        ["expires_at"] = key.ExpiresAt?.ToString("O"),
        ["revoked_at"] = key.RevokedAt?.ToString("O"),
        ["rotated_at"] = key.RotatedAt?.ToString("O"),
        ["previous_valid_until"] = key.PreviousValidUntil?.ToString("O"),
        ["models"] = new JsonArray(key.Models.Select(m => (JsonNode)m).ToArray()),
        ["modes"] = new JsonArray(key.Modes.Select(m => (JsonNode)m).ToArray()),
        ["budget_tokens"] = key.Limits.BudgetTokens,
        ["budget_usd"] = key.Limits.BudgetUsd,
        ["period"] = KeyLimits.Name(key.Limits.Period),
        ["rpm"] = key.Limits.RequestsPerMinute,
        ["tpm"] = key.Limits.TokensPerMinute,
        ["max_tokens"] = key.Limits.MaxTokens,
        ["max_prompt_tokens"] = key.Limits.MaxPromptTokens,
    };

    public static JsonObject Issued(IssuedKey issued, DateTimeOffset now)
    {
        var json = Describe(issued.Record, now);
        json["key"] = issued.Key;
        return json;
    }

    public static JsonObject Usage(UsageSummary u) => new()
    {
        ["key_id"] = u.KeyId,
        ["requests"] = u.Requests,
        ["prompt_tokens"] = u.PromptTokens,
        ["completion_tokens"] = u.CompletionTokens,
        ["total_tokens"] = u.PromptTokens + u.CompletionTokens,
        ["last_used"] = u.LastUsed?.ToString("O"),
    };

    public static JsonObject Public(PublicKeyInfo info) => new()
    {
        ["key"] = info.Key,
        ["valid_from"] = info.ValidFrom.ToString("O"),
        ["rotates_at"] = info.RotatesAt.ToString("O"),
        ["previous_valid_until"] = info.PreviousValidUntil.ToString("O"),
        ["rotation"] = info.Schedule.Name,
        ["grace_seconds"] = info.Schedule.Grace.TotalSeconds,
    };
}
