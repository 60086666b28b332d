using FewShot.Serving.Api;
using FewShot.Access;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Access.Http;
using FewShot.Serving.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FewShot.Benchmarks;

/// <summary>
/// A stand-in for the chat server, for the firewall benchmark and the tests: real Kestrel on 127.0.0.1 with the access
/// middleware and an OpenAI-shaped POST /v1/chat/completions that uses <see cref="IGenerationGate"/> exactly as the server
/// does (admit, generate, charge, dispose) but "generates" max_tokens tokens per choice after a fixed delay.
/// POST /bench/ungated/chat/completions does the same work without the gate (the baseline for overhead);
/// prompt tokens are counted as whitespace-separated words.
/// </summary>
public sealed class SimulatedServer : IAsyncDisposable
{
    readonly WebApplication app;
    long tokensGenerated;

    public Uri BaseAddress { get; }
    public IServiceProvider Services => app.Services;
    public AccessRuntime Access => app.Services.GetRequiredService<AccessRuntime>();
    /// <summary>Completion tokens produced so far, by every request.</summary>
    public long TokensGenerated => Interlocked.Read(ref tokensGenerated);

    SimulatedServer(WebApplication app, Uri baseAddress) { this.app = app; BaseAddress = baseAddress; }

    public static async Task<SimulatedServer> StartAsync(Action<AccessOptions> configure, TimeSpan generationTime)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSingleton<IGenerationGate, OpenGate>();  // what the server registers; AddFewShotAccess replaces it
        builder.Services.AddFewShotAccess(configure);
        var app = builder.Build();
        SimulatedServer? server = null;
        app.Use(async (http, next) =>
        {
            http.Items[StartedItem] = Stopwatch.GetTimestamp();
            await next(http);
        });
        app.UseFewShotAccess();
        app.MapAdminApi();
        app.MapGet("/healthz", () => "ok");
        app.MapPost("/v1/chat/completions", (HttpContext http) => server!.CompleteAsync(http, gated: true)).WithMetadata(AdmittedThroughGate.Instance);
        app.MapPost("/bench/ungated/chat/completions", (HttpContext http) => server!.CompleteAsync(http, gated: false));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server = new SimulatedServer(app, new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal) + "/")) { GenerationTime = generationTime };
        return server;
    }

    public TimeSpan GenerationTime { get; set; }

    const string StartedItem = "fewshot.bench.started";
    readonly ConcurrentQueue<double> gatedAdmission = new(), ungatedAdmission = new();

    /// <summary>
    /// Server-side milliseconds from the request entering the pipeline to the start of generation, plus the time to settle
    /// the lease afterwards: everything access control adds, without the network and client on either side.
    /// </summary>
    public (double[] Gated, double[] Ungated) TakeAdmissionTimes()
    {
        var result = (gatedAdmission.ToArray(), ungatedAdmission.ToArray());
        gatedAdmission.Clear();
        ungatedAdmission.Clear();
        return result;
    }

    async Task CompleteAsync(HttpContext http, bool gated)
    {
        JsonObject body;
        try { body = (await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted))?.AsObject() ?? throw new JsonException(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            await ApiException.Invalid("The body is not a JSON object.", null, "invalid_json").WriteAsync(http);
            return;
        }
        var model = body["model"]?.GetValue<string>() ?? "";
        var mode = body["mode"]?.GetValue<string>();
        var maxTokens = (int?)(body["max_completion_tokens"] ?? body["max_tokens"])?.GetValue<long>() ?? 16;
        var choices = (int?)body["n"]?.GetValue<long>() ?? 1;
        var prompt = body["messages"]?.AsArray().Sum(m => (m?["content"]?.GetValue<string>() ?? "")
            .Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length) ?? 0;

        IGenerationLease? lease = null;
        if (gated)
        {
            var gate = http.RequestServices.GetRequiredService<IGenerationGate>();
            switch (await gate.AdmitAsync(http, new GenerationRequestInfo(model, mode, prompt, maxTokens, choices), http.RequestAborted))
            {
                case GateDecision.Rejected r:
                    await r.Error.WriteAsync(http);
                    return;
                case GateDecision.Admitted a:
                    lease = a.Lease;
                    break;
            }
        }
        var admission = Stopwatch.GetElapsedTime((long)http.Items[StartedItem]!);
        try
        {
            if (GenerationTime > TimeSpan.Zero) await Task.Delay(GenerationTime, http.RequestAborted);
            var completion = maxTokens * choices;
            Interlocked.Add(ref tokensGenerated, completion);
            lease?.Charge(prompt * choices, completion);
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(Response(model, prompt * choices, completion, choices), http.RequestAborted);
        }
        finally
        {
            var settle = Stopwatch.GetTimestamp();
            if (lease is not null) await lease.DisposeAsync();
            (gated ? gatedAdmission : ungatedAdmission).Enqueue((admission + Stopwatch.GetElapsedTime(settle)).TotalMilliseconds);
        }
    }

    static string Response(string model, int prompt, int completion, int choices) => new JsonObject
    {
        ["id"] = "chatcmpl-sim",
        ["object"] = "chat.completion",
        ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        ["model"] = model,
        ["choices"] = new JsonArray(Enumerable.Range(0, choices).Select(i => (JsonNode)new JsonObject
        {
            ["index"] = i,
            ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = "simulated" },
            ["finish_reason"] = "length",
        }).ToArray()),
        ["usage"] = new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion },
    }.ToJsonString();

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
