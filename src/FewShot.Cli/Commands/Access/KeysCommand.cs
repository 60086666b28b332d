using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Access.Keys;
using FewShot.Cli.Infrastructure;
using Spectre.Console;

namespace FewShot.Cli.Commands.Access;

/// <summary>fewshot keys issue|list|show|rotate|revoke|current: personal keys and the public rotating key.</summary>
public sealed class KeysCommand() : CommandGroup("keys", "Issue, list, rotate and revoke access keys",
    new KeysIssueCommand(), new KeysListCommand(), new KeysShowCommand(), new KeysRotateCommand(), new KeysRevokeCommand(), new KeysCurrentCommand());

/// <summary>fewshot keys issue [--label L] [--budget N] [--period P] [--rpm N] [--tpm N] [--max-tokens N] [--expires D]: prints the key once.</summary>
public sealed class KeysIssueCommand : CliCommand
{
    readonly Option<string> db = AccessCliSupport.Database();
    readonly Option<string> label = new("--label") { Description = "Who or what the key is for", DefaultValueFactory = _ => "" };
    readonly Option<long?> budget = new("--budget") { Description = "Token budget (prompt + completion) per period; default: unlimited" };
    readonly Option<decimal?> budgetUsd = new("--budget-usd") { Description = "Money budget in dollars per period, at the upstream models' prices; default: unlimited" };
    readonly Option<string> period = new("--period") { Description = "When the budget resets: day, week, month or never", DefaultValueFactory = _ => "day" };
    readonly Option<long?> rpm = new("--rpm") { Description = "Requests per minute" };
    readonly Option<long?> tpm = new("--tpm") { Description = "Tokens per minute (counted at prompt + max_tokens)" };
    readonly Option<long?> maxTokens = new("--max-tokens") { Description = "Largest max_tokens a request may ask for" };
    readonly Option<long?> maxPrompt = new("--max-prompt-tokens") { Description = "Longest prompt, in tokens" };
    readonly Option<string?> expires = new("--expires") { Description = "Expiry: a date (2026-12-31) or a duration from now (30d, 12h)" };
    readonly Option<string?> models = new("--models") { Description = "Models the key may use, comma-separated; default: all" };
    readonly Option<string?> modes = new("--modes") { Description = "Modes the key may use, comma-separated; default: all" };

    public KeysIssueCommand() : base("issue", "Create a personal key (shown once)")
    {
        foreach (var option in new Option[] { db, label, budget, budgetUsd, period, rpm, tpm, maxTokens, maxPrompt, expires, models, modes }) Options.Add(option);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var service = AccessCliSupport.Open(parse.GetValue(db)!, create: true);
        var now = DateTimeOffset.UtcNow;
        var spec = new KeySpec(parse.GetValue(label)!,
            parse.GetValue(expires) is { } e ? Durations.ParseTime(e, now, past: false, "--expires") : null,
            AccessCliSupport.List(parse.GetValue(models)), AccessCliSupport.List(parse.GetValue(modes)),
            KeyLimits.Create(parse.GetValue(budget), KeyLimits.ParsePeriod(parse.GetValue(period)!), parse.GetValue(rpm), parse.GetValue(tpm),
                parse.GetValue(maxTokens), parse.GetValue(maxPrompt), parse.GetValue(budgetUsd)));
        var issued = await service.IssueAsync(spec, $"cli:{Environment.UserName}", cancel);
        KeysRotateCommand.ReportIssued(context, issued, "issued");
        return ExitCodes.Success;
    }
}

/// <summary>fewshot keys list: every key (never the keys themselves).</summary>
public sealed class KeysListCommand : CliCommand
{
    readonly Option<string> db = AccessCliSupport.Database();

    public KeysListCommand() : base("list", "List keys") => Options.Add(db);

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var keys = await AccessCliSupport.Open(parse.GetValue(db)!).ListAsync(cancel);
        var now = DateTimeOffset.UtcNow;
        if (context.Json) context.WriteJson(new JsonObject { ["data"] = new JsonArray(keys.Select(k => (JsonNode)KeyJson.Describe(k, now)).ToArray()) });
        else context.Out.Write(AccessCliSupport.KeyTable(keys, now));
        return ExitCodes.Success;
    }
}

/// <summary>fewshot keys show ID.</summary>
public sealed class KeysShowCommand : CliCommand
{
    readonly Option<string> db = AccessCliSupport.Database();
    readonly Argument<string> id = new("id") { Description = "Key id (key_…), from `fewshot keys list`" };

    public KeysShowCommand() : base("show", "Show one key")
    {
        Options.Add(db);
        Arguments.Add(id);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var key = await AccessCliSupport.Open(parse.GetValue(db)!).GetAsync(parse.GetValue(id)!, cancel);
        var now = DateTimeOffset.UtcNow;
        if (context.Json) context.WriteJson(KeyJson.Describe(key, now));
        else context.Out.Write(AccessCliSupport.KeyTable([key], now));
        return ExitCodes.Success;
    }
}

/// <summary>fewshot keys rotate ID [--grace D]: a new secret for the key; the old one works for the grace, then fails as rotated.</summary>
public sealed class KeysRotateCommand : CliCommand
{
    readonly Option<string> db = AccessCliSupport.Database();
    readonly Argument<string> id = new("id") { Description = "Key id (key_…)" };
    readonly Option<string> grace = new("--grace") { Description = "How long the old key keeps working (e.g. 0s, 10m, 1d)", DefaultValueFactory = _ => "0s" };

    public KeysRotateCommand() : base("rotate", "Give a personal key a new secret (shown once)")
    {
        Options.Add(db);
        Options.Add(grace);
        Arguments.Add(id);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var text = parse.GetValue(grace)!;
        var span = text.Trim() is "0" or "0s" ? TimeSpan.Zero : Durations.Parse(text, "--grace");
        var issued = await AccessCliSupport.Open(parse.GetValue(db)!).RotateAsync(parse.GetValue(id)!, span, $"cli:{Environment.UserName}", cancel);
        ReportIssued(context, issued, "rotated");
        return ExitCodes.Success;
    }

    internal static void ReportIssued(CliContext context, IssuedKey issued, string what)
    {
        if (context.Json)
        {
            context.WriteJson(KeyJson.Issued(issued, DateTimeOffset.UtcNow));
            return;
        }
        context.Out.MarkupLine($"{what} [bold]{Markup.Escape(issued.Record.Id)}[/] ({Markup.Escape(issued.Record.Label)})");
        context.Out.WriteLine(issued.Key);
        context.Info("This is the only time the key is shown: only its hash is stored.");
    }
}

/// <summary>fewshot keys revoke ID: fails from the next request (servers on a shared PostgreSQL store: within a quarter of a second).</summary>
public sealed class KeysRevokeCommand : CliCommand
{
    readonly Option<string> db = AccessCliSupport.Database();
    readonly Argument<string> id = new("id") { Description = "Key id (key_…)" };

    public KeysRevokeCommand() : base("revoke", "Revoke a key")
    {
        Options.Add(db);
        Arguments.Add(id);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var key = await AccessCliSupport.Open(parse.GetValue(db)!).RevokeAsync(parse.GetValue(id)!, $"cli:{Environment.UserName}", cancel);
        if (context.Json) context.WriteJson(KeyJson.Describe(key, DateTimeOffset.UtcNow));
        else context.Out.MarkupLine($"revoked [bold]{Markup.Escape(key.Id)}[/] ({Markup.Escape(key.Label)}) at {key.RevokedAt:yyyy-MM-dd HH:mm:ss} UTC");
        return ExitCodes.Success;
    }
}

/// <summary>fewshot keys current: the public rotating key in force and when it rotates.</summary>
public sealed class KeysCurrentCommand : CliCommand
{
    readonly Option<string> db = AccessCliSupport.Database();

    public KeysCurrentCommand() : base("current", "Print the public rotating key in force and when it rotates") => Options.Add(db);

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var path = parse.GetValue(db)!;
        var info = await AccessCliSupport.Open(path).CurrentPublicKeyAsync(cancel)
            ?? throw new InvalidDataException($"{path}: no public rotating key is configured (start `fewshot serve` with a public key schedule)");
        if (context.Json)
        {
            context.WriteJson(KeyJson.Public(info));
            return ExitCodes.Success;
        }
        context.Out.WriteLine(info.Key);
        context.Info($"in force since {info.ValidFrom:yyyy-MM-dd HH:mm} UTC, rotates {info.Schedule.Name} at {info.RotatesAt:yyyy-MM-dd HH:mm} UTC; " +
                     $"this key keeps working until {info.PreviousValidUntil:yyyy-MM-dd HH:mm} UTC");
        return ExitCodes.Success;
    }
}
