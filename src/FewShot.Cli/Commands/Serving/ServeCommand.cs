using System.CommandLine;
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
/// Settings come from --config (appsettings-style JSON, section "Serving"), FEWSHOT_Serving__* environment variables,
/// then these flags.
/// </summary>
public sealed class ServeCommand : CliCommand
{
    readonly Option<string> model = CommonOptions.Model();
    readonly Option<string> urls = new("--urls") { Description = "Addresses to listen on, separated by ';'", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
    readonly Option<string?> config = new("--config") { Description = "Settings file (JSON with a \"Serving\" section)" };
    readonly Option<string?> modelName = new("--model-name") { Description = "Name clients send as \"model\" (default: the folder's name)" };
    readonly Option<int?> maxSequences = new("--max-sequences") { Description = "Sequences decoded together (default 8)" };
    readonly Option<int?> maxQueue = new("--max-queue") { Description = "Requests that may wait for a free row before 503 (default 64)" };
    readonly Option<string?> modes = new("--modes") { Description = "Folder of extra chat modes (*.json)" };
    readonly Option<int?> threads = new("--threads") { Description = "libtorch intra-op threads (default: all cores)" };

    public ServeCommand() : base("serve", "Serve a model: chat page at / and OpenAI-compatible API at /v1")
    {
        foreach (var o in new Option[] { model, urls, config, modelName, maxSequences, maxQueue, modes, threads }) Options.Add(o);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var overrides = new Dictionary<string, string?> { ["Serving:Model"] = parse.GetValue(model) };
        void Set(string key, object? value) { if (value is not null) overrides["Serving:" + key] = value.ToString(); }
        Set("ModelName", parse.GetValue(modelName));
        Set("MaxConcurrentSequences", parse.GetValue(maxSequences));
        Set("MaxQueueLength", parse.GetValue(maxQueue));
        Set("ModesFolder", parse.GetValue(modes));
        Set("Threads", parse.GetValue(threads));
        var addresses = parse.GetValue(urls)!.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var address in addresses)
            if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new ArgumentException($"--urls: '{address}' is not an http(s) address");

        var app = ServingHost.Build(overrides, parse.GetValue(config), addresses);
        try
        {
            _ = app.Services.GetRequiredService<IOptions<ServingOptions>>().Value; // validate before the host starts (and logs)
        }
        catch (OptionsValidationException e)
        {
            await app.DisposeAsync();
            throw new ArgumentException(string.Join("; ", e.Failures));
        }
        await app.StartAsync(cancel);
        var served = app.Services.GetRequiredService<ServedModel>();
        context.Info($"serving {served.Name} (context {served.ContextLength}) - chat page: {addresses[0].TrimEnd('/')}/  API: {addresses[0].TrimEnd('/')}/v1  (Ctrl+C stops)");
        try { await app.WaitForShutdownAsync(cancel); }
        finally { await app.DisposeAsync(); }
        return ExitCodes.Success;
    }
}
