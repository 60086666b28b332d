using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Access.Keys;
using FewShot.Cli.Infrastructure;
using Spectre.Console;

namespace FewShot.Cli.Commands.Access;

/// <summary>fewshot usage [--key ID] [--since D]: tokens charged per key.</summary>
public sealed class UsageCommand : CliCommand
{
    readonly Option<string> db = AccessCliSupport.Database();
    readonly Option<string?> key = new("--key") { Description = "Only this key id" };
    readonly Option<string> since = new("--since") { Description = "From a date (2026-11-01) or a duration ago (1d, 12h)", DefaultValueFactory = _ => "30d" };

    public UsageCommand() : base("usage", "Show tokens charged per key")
    {
        Options.Add(db);
        Options.Add(key);
        Options.Add(since);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var service = AccessCliSupport.Open(parse.GetValue(db)!);
        var now = DateTimeOffset.UtcNow;
        var from = Durations.ParseTime(parse.GetValue(since)!, now, past: true, "--since");
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
}
