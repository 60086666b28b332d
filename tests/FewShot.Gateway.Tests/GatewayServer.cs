using System.ClientModel;
using System.Collections.Concurrent;
using System.Net.Http.Headers;
using FewShot.Access;
using FewShot.Access.Http;
using FewShot.Access.Keys;
using FewShot.Model;
using FewShot.Model.Storage;
using FewShot.Model.Tokenization;
using FewShot.Serving.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;
using static TorchSharp.torch;

namespace FewShot.Gateway.Tests;

/// <summary>
/// The gateway under test: `fewshot serve` as ServeCommand composes it (access control on, a fresh SQLite store) with a
/// tiny in-process model beside the upstreams given in its settings, on a loopback port. Every log line is kept.
/// </summary>
public sealed class GatewayServer : IAsyncDisposable
{
    public const string LocalModel = "local-bytes";
    static readonly Lazy<string> localFolder = new(() =>
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("fewshot-gateway-").FullName, LocalModel);
        manual_seed(99);
        using var gpt = new Gpt(new GptConfig { VocabSize = 257, ContextLength = 256, Layers = 1, Heads = 1, Embedding = 32 });
        ModelFolder.Save(gpt, new ByteTokenizer(), path);
        return path;
    });

    /// <summary>The tiny in-process model's folder (also what the benchmark test serves).</summary>
    public static string LocalModelFolder => localFolder.Value;

    readonly TempFolder folder;
    public WebApplication App { get; }
    public Uri BaseUrl { get; }
    public AccessRuntime Access => App.Services.GetRequiredService<AccessRuntime>();
    public ConcurrentQueue<string> Logs { get; }
    public string DatabasePath => folder.File("access.db");

    GatewayServer(WebApplication app, Uri baseUrl, TempFolder folder, ConcurrentQueue<string> logs)
    {
        App = app;
        BaseUrl = baseUrl;
        this.folder = folder;
        Logs = logs;
    }

    /// <param name="settings">Serving:* settings, e.g. Serving:Upstreams:a:BaseUrl.</param>
    /// <param name="localModel">False: a gateway only, no --model.</param>
    public static async Task<GatewayServer> StartAsync(Dictionary<string, string?> settings, Action<AccessOptions>? access = null, bool localModel = true)
    {
        var folder = new TempFolder();
        var logs = new ConcurrentQueue<string>();
        var overrides = new Dictionary<string, string?>
        {
            ["Serving:Model"] = localFolder.Value,
            ["Serving:ModelName"] = LocalModel,
            ["Serving:Threads"] = "1",
        };
        if (!localModel) overrides.Clear();
        foreach (var (k, v) in settings) overrides[k] = v;
        void Configure(AccessOptions options)
        {
            options.DatabasePath = folder.File("access.db");
            options.OnAdminKeyCreated = _ => { };
            options.IpRequestsPerMinute = 100_000;
            options.MaxConcurrentGenerations = 512;
            options.ConcurrencyQueue = 1024;
            access?.Invoke(options);
        }
        var app = ServingHost.Build(overrides, urls: ["http://127.0.0.1:0"],
            customize: b =>
            {
                b.Logging.ClearProviders();
                b.Logging.SetMinimumLevel(LogLevel.Debug);
                b.Logging.AddProvider(new RecordingLoggerProvider(logs));
                b.Services.AddFewShotAccess(Configure);
            },
            guard: web => { web.UseFewShotAccess(); web.MapAdminApi(); });
        await app.StartAsync();
        return new GatewayServer(app, app.Address(), folder, logs);
    }

    public async Task<string> IssueAsync(KeyLimits? limits = null) =>
        (await Access.Keys.IssueAsync(new KeySpec("test", null, [], [], limits ?? KeyLimits.None), "test")).Key;

    public HttpClient Client(string key)
    {
        var client = new HttpClient { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public OpenAIClient OpenAi(string key) => new(new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = new Uri(BaseUrl, "v1"),
        RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0),
        NetworkTimeout = TimeSpan.FromSeconds(60),
    });

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        folder.Dispose();
    }
}

/// <summary>Keeps every log line (message, exception and scopes) so a test can search them.</summary>
sealed class RecordingLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, lines);
    public void Dispose() { }

    sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            lines.Enqueue($"{category} scope {state}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {state} {exception}");
    }
}

/// <summary>One upstream process for the whole test assembly (starting one costs seconds).</summary>
public sealed class UpstreamFixture : IAsyncLifetime
{
    public UpstreamProcess Upstream { get; private set; } = null!;
    public async Task InitializeAsync() => Upstream = await UpstreamProcess.StartAsync();
    public async Task DisposeAsync() => await Upstream.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class UpstreamCollection : ICollectionFixture<UpstreamFixture>
{
    public const string Name = "upstream";
}
