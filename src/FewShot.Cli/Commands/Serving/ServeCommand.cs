using System.CommandLine;
using System.Globalization;
using FewShot.Access;
using FewShot.Access.Keys;
using FewShot.Access.Http;
using FewShot.Cli.Infrastructure;
using FewShot.Serving.Engine;
using FewShot.Serving.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace FewShot.Cli.Commands.Serving;

/// <summary>
/// fewshot serve --model DIR [--urls http://127.0.0.1:8080]: the chat page at / and the OpenAI-compatible API at /v1.
/// Settings come from --config (appsettings-style JSON, sections "Serving" and "Access"), FEWSHOT_Serving__* and
/// FEWSHOT_Access__* environment variables, then these flags.
/// </summary>
public sealed class ServeCommand : CliCommand
{
    readonly Option<string?> model = new("--model") { Description = "Model folder to serve in-process (optional when upstream model servers are given)" };
    readonly Option<string> urls = new("--urls") { Description = "Addresses to listen on, separated by ';'", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
    readonly Option<string?> config = new("--config") { Description = "Settings file (JSON with a \"Serving\" section)" };
    readonly Option<string?> modelName = new("--model-name") { Description = "Name clients send as \"model\" (default: the folder's name)" };
    readonly Option<string?> pageModel = new("--page-model") { Description = "The model the chat page uses, e.g. an upstream chat model (default: --model's)" };
    readonly Option<int?> maxSequences = new("--max-sequences") { Description = "Sequences decoded together (default 8)" };
    readonly Option<int?> maxQueue = new("--max-queue") { Description = "Requests that may wait for a free row before 503 (default 64)" };
    readonly Option<string?> modes = new("--modes") { Description = "Folder of extra chat modes (*.json)" };
    readonly Option<int?> threads = new("--threads") { Description = "libtorch intra-op threads (default: all cores)" };
    readonly Option<string?> weights = new("--weights") { Description = "Decoding: f32 or q8_0 (fused CPU decoder), torch (TorchSharp); default: the folder's stored format" };
    readonly Option<bool> open = new("--open") { Description = "No keys, quotas or firewall: every route is open (local use only)" };
    readonly Option<string?> db = new("--db") { Description = "Access store (keys, usage, audit), shared with `fewshot keys` (default: the user's data folder)" };
    readonly Option<string?> store = new("--store") { Description = "Where keys, usage and audit live: sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB (several instances share one)" };
    readonly Option<string?> limits = new("--limits") { Description = "Where rate limits and budget reservations live: memory, or redis://HOST:PORT shared by every instance" };
    readonly Option<string?> limitsFail = new("--limits-fail") { Description = "While Redis is unreachable: closed (503, the default) or open (this instance's own limits)" };
    readonly Option<string?> adminKey = new("--admin-key") { Description = "The operator's admin key (default: the stored one, or a new one printed once)" };
    readonly Option<string?> publicKey = new("--public-key") { Description = "Publish a rotating public key: daily, weekly, or an interval such as 6h" };
    readonly Option<string> publicKeyGrace = new("--public-key-grace") { Description = "How long the previous public key keeps working", DefaultValueFactory = _ => "1h" };
    readonly Option<long?> publicKeyBudget = new("--public-key-budget") { Description = "Tokens each public key may spend per day" };
    readonly Option<long?> globalBudget = new("--global-budget") { Description = "Tokens the whole service may spend per day (the balance)" };
    readonly Option<decimal?> globalBudgetUsd = new("--global-budget-usd") { Description = "Dollars the whole service may spend per day at the upstream models' prices" };
    readonly Option<string[]> upstreams = new("--upstream") { Description = "An OpenAI-compatible model server to serve through this one: NAME=URL (repeatable; more in Serving:Upstreams)" };
    readonly Option<string[]> trustedProxies = new("--trusted-proxy") { Description = "CIDR of a reverse proxy whose X-Forwarded-For is believed (repeatable)" };
    readonly Option<string[]> allow = new("--allow") { Description = "Only these CIDRs may connect (repeatable)" };
    readonly Option<string[]> deny = new("--deny") { Description = "These CIDRs may not connect (repeatable)" };

    public ServeCommand() : base("serve", "Serve a model: chat page at / and OpenAI-compatible API at /v1")
    {
        foreach (var o in new Option[] { model, urls, config, modelName, pageModel, maxSequences, maxQueue, modes, threads, weights, open, db, store, limits, limitsFail, adminKey,
                     publicKey, publicKeyGrace, publicKeyBudget, globalBudget, globalBudgetUsd, upstreams, trustedProxies, allow, deny })
            Options.Add(o);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var overrides = new Dictionary<string, string?>();
        void Set(string key, object? value) { if (value is not null) overrides["Serving:" + key] = Convert.ToString(value, CultureInfo.InvariantCulture); }
        Set("Model", parse.GetValue(model));
        Set("ModelName", parse.GetValue(modelName));
        Set("PageModel", parse.GetValue(pageModel));
        Set("MaxConcurrentSequences", parse.GetValue(maxSequences));
        Set("MaxQueueLength", parse.GetValue(maxQueue));
        Set("ModesFolder", parse.GetValue(modes));
        Set("Threads", parse.GetValue(threads));
        foreach (var upstream in parse.GetValue(upstreams) ?? [])
        {
            var at = upstream.IndexOf('=');
            if (at <= 0 || !Uri.TryCreate(upstream[(at + 1)..], UriKind.Absolute, out var upstreamUri) || upstreamUri.Scheme is not ("http" or "https"))
                throw new ArgumentException($"--upstream: '{upstream}' is not NAME=URL with an http(s) URL");
            overrides[$"Serving:Upstreams:{upstream[..at]}:BaseUrl"] = upstream[(at + 1)..];
        }
        Set("Weights", parse.GetValue(weights));
        var addresses = parse.GetValue(urls)!.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var address in addresses)
            if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new ArgumentException($"--urls: '{address}' is not an http(s) address");

        var guarded = !parse.GetValue(open);
        if (guarded) AccessFlags(parse, overrides);
        else context.Warn("--open: no keys, quotas or firewall; every route is open to anyone who can reach this address");
        await using var app = ServingHost.Build(overrides, parse.GetValue(config), addresses,
            customize: !guarded ? null : builder => builder.Services.AddFewShotAccess(o => o.OnAdminKeyCreated = key => context.Warn($"admin key (shown once, keep it): {key}")),
            guard: !guarded ? null : web => { web.UseFewShotAccess(); web.MapAdminApi(); });
        // Validate before the host starts (and logs); a failure is bad input (exit 2), each failure naming its setting.
        _ = app.Services.GetRequiredService<IOptions<ServingOptions>>().Value;
        if (guarded) _ = app.Services.GetRequiredService<IOptions<AccessOptions>>().Value;
        await app.StartAsync(cancel);
        var what = app.Services.GetService<ServedModel>() is { } served ? $"{served.Name} (context {served.ContextLength})" : "upstream models only";
        context.Info($"serving {what} - chat page: {addresses[0].TrimEnd('/')}/  API: {addresses[0].TrimEnd('/')}/v1  (Ctrl+C stops)");
        await app.WaitForShutdownAsync(cancel);
        return ExitCodes.Success;
    }

    /// <summary>The access flags as "Access:" settings, so that they override the settings file and environment like the serving flags.</summary>
    void AccessFlags(ParseResult parse, Dictionary<string, string?> overrides)
    {
        void Set(string key, object? value) { if (value is not null) overrides["Access:" + key] = Convert.ToString(value, CultureInfo.InvariantCulture); }
        void List(string key, string[]? values) { for (var i = 0; i < (values?.Length ?? 0); i++) Set($"{key}:{i}", values![i]); }
        Set("DatabasePath", parse.GetValue(db));
        Set("Store", parse.GetValue(store));
        Set("Limits", parse.GetValue(limits));
        Set("LimitsFail", parse.GetValue(limitsFail));
        Set("AdminKey", parse.GetValue(adminKey));
        Set("GlobalDailyBudgetTokens", parse.GetValue(globalBudget));
        Set("GlobalDailyBudgetUsd", parse.GetValue(globalBudgetUsd));
        List("TrustedProxies", parse.GetValue(trustedProxies));
        List("AllowedNetworks", parse.GetValue(allow));
        List("DeniedNetworks", parse.GetValue(deny));
        if (parse.GetValue(publicKey) is { } rotation)
        {
            Set("PublicKey:Rotation", rotation);
            Set("PublicKey:Grace", Durations.Parse(parse.GetValue(publicKeyGrace)!, "--public-key-grace").ToString("c", CultureInfo.InvariantCulture));
            if (parse.GetValue(publicKeyBudget) is { } budget)
            {
                Set("PublicKey:Limits:BudgetTokens", budget);
                Set("PublicKey:Limits:Period", nameof(BudgetPeriod.Day));
            }
        }
    }
}
