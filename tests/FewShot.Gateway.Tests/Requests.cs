using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using FewShot.Access.Storage;

namespace FewShot.Gateway.Tests;

/// <summary>
/// Request bodies, stream reading and ledger queries the gateway tests share. Requests decode greedily, so what the
/// random upstream model answers is fixed (a sampled reply can end at its first token).
/// </summary>
public static class Requests
{
    public static StringContent Chat(string model, int maxTokens = 8, bool stream = false, bool includeUsage = false, string? mode = null, string text = "Hello there") =>
        Json(new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }),
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["stream"] = stream,
            ["stream_options"] = includeUsage ? new JsonObject { ["include_usage"] = true } : null,
            ["mode"] = mode,
        });

    public static StringContent Completion(string model, int maxTokens = 8, bool stream = false, bool includeUsage = false, string prompt = "Hello") =>
        Json(new JsonObject
        {
            ["model"] = model,
            ["prompt"] = prompt,
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["stream"] = stream,
            ["stream_options"] = includeUsage ? new JsonObject { ["include_usage"] = true } : null,
        });

    static StringContent Json(JsonObject body)
    {
        foreach (var (name, value) in body.ToList()) if (value is null) body.Remove(name);
        return new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
    }

    public static async Task<JsonObject> ObjectAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonObject>())!;

    /// <summary>The data of every event of a streamed response, [DONE] included.</summary>
    public static async Task<List<string>> EventsAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return [.. text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e.Trim()).Where(e => e.StartsWith("data: ", StringComparison.Ordinal)).Select(e => e[6..])];
    }

    /// <summary>The ledger as written to the store, one group per upstream.</summary>
    public static async Task<Dictionary<string, UsageGroup>> LedgerAsync(GatewayServer gateway)
    {
        await gateway.Access.Budgets.FlushAsync();
        return (await gateway.Access.Store.UsageGroupedAsync(UsageGrouping.Upstream, DateTimeOffset.UnixEpoch)).ToDictionary(g => g.Name);
    }

    public static Dictionary<string, string?> Upstream(string name, Uri baseUrl, string model = UpstreamProcess.ModelName, double weight = 1,
        string? extraKey = null, string? extraValue = null)
    {
        var settings = new Dictionary<string, string?>
        {
            [$"Serving:Upstreams:{name}:BaseUrl"] = baseUrl.ToString(),
            [$"Serving:Upstreams:{name}:Weight"] = weight.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [$"Serving:Upstreams:{name}:Models:0:Name"] = model,
            [$"Serving:Upstreams:{name}:Models:0:Target"] = UpstreamProcess.ModelName,
            [$"Serving:Upstreams:{name}:Models:0:MaxTokens"] = "64",
            // fewshot serve renders chat through its mode's few-shot template (hundreds of byte tokens): reserve for it.
            [$"Serving:Upstreams:{name}:Models:0:TemplateTokens"] = "1024",
            [$"Serving:Upstreams:{name}:HealthIntervalSeconds"] = "600",
            [$"Serving:Upstreams:{name}:FirstByteTimeoutSeconds"] = "10",
        };
        if (extraKey is not null) settings[$"Serving:Upstreams:{name}:{extraKey}"] = extraValue;
        return settings;
    }

    /// <summary>Settings merged in order: a later part overrides an earlier one.</summary>
    public static Dictionary<string, string?> Merge(params Dictionary<string, string?>[] parts)
    {
        var merged = new Dictionary<string, string?>();
        foreach (var (key, value) in parts.SelectMany(p => p)) merged[key] = value;
        return merged;
    }
}
