using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using FewShot.Access.Keys;
using FewShot.Access.Storage;
using FewShot.Cli.Infrastructure;
using Spectre.Console;

namespace FewShot.Cli.Commands.Access;

/// <summary>fewshot usage [--key ID] [--since D] [--by key|model|upstream]: tokens and money charged per key, model or upstream.</summary>
public sealed class UsageCommand : CliCommand
{
    readonly Option<string> db = AccessCliSupport.Database();
    readonly Option<string?> key = new("--key") { Description = "Only this key id" };
    readonly Option<string> since = new("--since") { Description = "From a date (2026-11-01) or a duration ago (1d, 12h)", DefaultValueFactory = _ => "30d" };
    readonly Option<string?> by = new("--by") { Description = "Group spend by key, model or upstream (with money and estimated counts)" };

    public UsageCommand() : base("usage", "Show tokens and money charged per key, model or upstream")
    {
        Options.Add(db);
        Options.Add(key);
        Options.Add(since);
        Options.Add(by);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var service = AccessCliSupport.Open(parse.GetValue(db)!);
        var now = DateTimeOffset.UtcNow;
        var from = Durations.ParseTime(parse.GetValue(since)!, now, past: true, "--since");
        if (parse.GetValue(by) is { } grouping) return await GroupedAsync(service.Store, Grouping(grouping), from, context, cancel);
        var keyId = parse.GetValue(key);
        if (keyId is not null) await service.GetAsync(keyId, cancel);  // an unknown id is an error, not an empty table
        var rows = await service.Store.UsageByKeyAsync(keyId, from, cancel);
        var labels = (await service.ListAsync(cancel)).ToDictionary(k => k.Id, k => k.Label);
        if (context.Json)
        {
            context.WriteJson(new JsonObject
            {
                ["since"] = from.ToString("O"),
                ["data"] = new JsonArray(rows.Select(r => (JsonNode)KeyJson.Usage(r)).ToArray()),
                ["total_tokens"] = rows.Sum(r => r.PromptTokens + r.CompletionTokens),
            });
            return ExitCodes.Success;
        }
        var table = new Table().AddColumns("key", "label", "requests", "prompt", "completion", "total", "last used");
        foreach (var r in rows)
            table.AddRow(Markup.Escape(r.KeyId), Markup.Escape(labels.GetValueOrDefault(r.KeyId, "")), $"{r.Requests}", Units.Count(r.PromptTokens),
                Units.Count(r.CompletionTokens), Units.Count(r.PromptTokens + r.CompletionTokens), r.LastUsed?.ToString("yyyy-MM-dd HH:mm") ?? "-");
        context.Out.Write(table);
        context.Info($"since {from:yyyy-MM-dd HH:mm} UTC; total {Units.Count(rows.Sum(r => r.PromptTokens + r.CompletionTokens))} tokens");
        return ExitCodes.Success;
    }

    static UsageGrouping Grouping(string text) => text.Trim().ToLowerInvariant() switch
    {
        "key" => UsageGrouping.Key,
        "model" => UsageGrouping.Model,
        "upstream" => UsageGrouping.Upstream,
        _ => throw new ArgumentException($"--by: '{text}' is not one of key, model, upstream"),
    };

    static async Task<int> GroupedAsync(IAccessStore store, UsageGrouping grouping, DateTimeOffset from, CliContext context, CancellationToken cancel)
    {
        var rows = await store.UsageGroupedAsync(grouping, from, cancel);
        var name = grouping.ToString().ToLowerInvariant();
        if (context.Json)
        {
            context.WriteJson(new JsonObject
            {
                ["since"] = from.ToString("O"),
                ["by"] = name,
                ["data"] = new JsonArray(rows.Select(r => (JsonNode)new JsonObject
                {
                    [name] = r.Name, ["requests"] = r.Requests, ["prompt_tokens"] = r.PromptTokens, ["completion_tokens"] = r.CompletionTokens,
                    ["total_tokens"] = r.PromptTokens + r.CompletionTokens, ["cost_usd"] = r.CostMicros / 1_000_000m, ["estimated_requests"] = r.EstimatedRequests,
                }).ToArray()),
                ["total_cost_usd"] = rows.Sum(r => r.CostMicros) / 1_000_000m,
            });
            return ExitCodes.Success;
        }
        var table = new Table().AddColumns(name, "requests", "prompt", "completion", "total", "cost ($)", "estimated");
        foreach (var r in rows)
            table.AddRow(Markup.Escape(r.Name), $"{r.Requests}", Units.Count(r.PromptTokens), Units.Count(r.CompletionTokens),
                Units.Count(r.PromptTokens + r.CompletionTokens), (r.CostMicros / 1_000_000m).ToString("0.######", CultureInfo.InvariantCulture), $"{r.EstimatedRequests}");
        context.Out.Write(table);
        context.Info($"since {from:yyyy-MM-dd HH:mm} UTC; total ${(rows.Sum(r => r.CostMicros) / 1_000_000m).ToString("0.######", CultureInfo.InvariantCulture)}");
        return ExitCodes.Success;
    }
}
