using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using FewShot.Access.Keys;
using FewShot.Access.Limits;
using FewShot.Access.Storage;
using FewShot.Cli.Infrastructure;
using Spectre.Console;

namespace FewShot.Cli.Commands.Access;

/// <summary>
/// fewshot usage [--key ID] [--since D] [--by key|model|upstream]: tokens and money charged per key, model or upstream;
/// fewshot usage --reconcile --limits redis://...: the shared budget counters rebuilt from the ledger.
/// </summary>
public sealed class UsageCommand : CliCommand
{
    readonly Option<string> db = AccessCliSupport.Database();
    readonly Option<string?> key = new("--key") { Description = "Only this key id" };
    readonly Option<string> since = new("--since") { Description = "From a date (2026-11-01) or a duration ago (1d, 12h)", DefaultValueFactory = _ => "30d" };
    readonly Option<string?> by = new("--by") { Description = "Group spend by key, model or upstream (with money and estimated counts)" };
    readonly Option<bool> reconcile = new("--reconcile") { Description = "Rebuild the budget counters in Redis (--limits) from the ledger and print what changed" };
    readonly Option<string?> limits = new("--limits") { Description = "With --reconcile: the Redis the servers share, redis://[:PASSWORD@]HOST:PORT[/DB] (`serve --limits`)" };

    public UsageCommand() : base("usage", "Show tokens and money charged per key, model or upstream")
    {
        Options.Add(db);
        Options.Add(key);
        Options.Add(since);
        Options.Add(by);
        Options.Add(reconcile);
        Options.Add(limits);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        if (parse.GetValue(reconcile)) return await ReconcileAsync(parse, context, cancel);
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

    /// <summary>--reconcile: every budget account in Redis set from the ledger; one row per account, marked where it changed.</summary>
    async Task<int> ReconcileAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var location = LimitsLocation.Parse(parse.GetValue(limits), "--limits");
        if (location.Redis is null) throw new ArgumentException("--reconcile: needs --limits redis://HOST:PORT[/DB], the Redis the servers share");
        var service = AccessCliSupport.Open(parse.GetValue(db)!);
        var accounts = await LedgerReconciler.ReconcileAsync(location, service.Store, cancel);
        static string Change(long before, long after) => before == after ? Units.Count(after) : $"{Units.Count(before)} -> {Units.Count(after)}";
        if (context.Json)
        {
            context.WriteJson(new JsonObject
            {
                ["accounts"] = accounts.Count,
                ["changed"] = accounts.Count(a => a.Changed),
                ["data"] = new JsonArray(accounts.Select(a => (JsonNode)new JsonObject
                {
                    ["key"] = a.KeyId, ["period_start"] = a.PeriodStart.ToString("O"), ["changed"] = a.Changed,
                    ["used_before"] = a.UsedBefore, ["used_after"] = a.UsedAfter, ["used_micros_before"] = a.UsedMicrosBefore, ["used_micros_after"] = a.UsedMicrosAfter,
                    ["reserved_before"] = a.ReservedBefore, ["reserved_after"] = a.ReservedAfter,
                    ["reserved_micros_before"] = a.ReservedMicrosBefore, ["reserved_micros_after"] = a.ReservedMicrosAfter,
                }).ToArray()),
            });
            return ExitCodes.Success;
        }
        var table = new Table().AddColumns("account", "period from", "used (tokens)", "used ($)", "reserved (tokens)", "changed");
        foreach (var a in accounts)
            table.AddRow(Markup.Escape(a.KeyId), a.PeriodStart.ToString("yyyy-MM-dd HH:mm"), Change(a.UsedBefore, a.UsedAfter),
                a.UsedMicrosBefore == a.UsedMicrosAfter ? Usd(a.UsedMicrosAfter) : $"{Usd(a.UsedMicrosBefore)} -> {Usd(a.UsedMicrosAfter)}",
                Change(a.ReservedBefore, a.ReservedAfter), a.Changed ? "yes" : "");
        context.Out.Write(table);
        context.Info($"{accounts.Count} accounts in Redis, {accounts.Count(a => a.Changed)} changed to match the ledger");
        return ExitCodes.Success;
    }

    static string Usd(long micros) => (micros / 1_000_000m).ToString("0.######", CultureInfo.InvariantCulture);

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
                Units.Count(r.PromptTokens + r.CompletionTokens), Usd(r.CostMicros), $"{r.EstimatedRequests}");
        context.Out.Write(table);
        context.Info($"since {from:yyyy-MM-dd HH:mm} UTC; total ${Usd(rows.Sum(r => r.CostMicros))}");
        return ExitCodes.Success;
    }
}
