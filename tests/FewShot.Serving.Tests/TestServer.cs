using System.ClientModel;
using FewShot.Model;
using FewShot.Model.Storage;
using FewShot.Model.Tokenization;
using FewShot.Serving.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;
using static TorchSharp.torch;

namespace FewShot.Serving.Tests;

/// <summary>A tiny random GPT over bytes (vocab 257), saved as a model folder once per test run.</summary>
public static class TinyModel
{
    public const string Name = "tiny-bytes";
    static readonly Lazy<string> folder = new(Create);

    /// <summary>The folder (named <see cref="Name"/>) holding config.json, model.safetensors and tokenizer.json.</summary>
    public static string Folder => folder.Value;

    public static GptConfig Config => new() { VocabSize = 257, ContextLength = 1024, Layers = 2, Heads = 2, Embedding = 64 };

    static readonly Lazy<string> benchFolder = new(() => Create(new GptConfig { VocabSize = 257, ContextLength = 512, Layers = 4, Heads = 4, Embedding = 256 }, "bench-bytes"));

    static readonly Lazy<string> browserFolder = new(() =>
        Create(new GptConfig { VocabSize = 257, ContextLength = 4096, Layers = 6, Heads = 6, Embedding = 384 }, "browser-bytes"));

    /// <summary>
    /// For the browser tests: a model large enough (6 x 384) that a 600-token reply takes seconds on an idle machine, so
    /// a test can watch it stream and press stop before it ends, and with a 4,096-token context so that a conversation
    /// of several such replies still leaves each its full length.
    /// </summary>
    public static string BrowserFolder => browserFolder.Value;

    /// <summary>A mid-sized byte model (4 layers, d 256) whose decoding step costs more than the HTTP around it, as real models do.</summary>
    public static string BenchFolder => benchFolder.Value;

    static string Create() => Create(Config, Name);

    static string Create(GptConfig config, string name)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("fewshot-serving-").FullName, name);
        manual_seed(1234);
        using var model = new Gpt(config);
        ModelFolder.Save(model, new ByteTokenizer(), path);
        return path;
    }
}

/// <summary>The real server on a loopback port, with the tiny model; settings can be overridden per test class.</summary>
public sealed class TestServer : IAsyncDisposable
{
    public WebApplication App { get; }
    public Uri BaseUrl { get; }
    public Uri ApiUrl => new(BaseUrl, "v1");
    public HttpClient Http { get; }

    TestServer(WebApplication app, Uri baseUrl)
    {
        App = app;
        BaseUrl = baseUrl;
        Http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(60) };
    }

    public static async Task<TestServer> StartAsync(Dictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null)
    {
        var overrides = new Dictionary<string, string?>
        {
            ["Serving:Model"] = TinyModel.Folder,
            ["Serving:MaxRequestBodyBytes"] = "65536",
            ["Serving:Threads"] = "1",
        };
        foreach (var (k, v) in settings ?? []) overrides[k] = v;
        var app = ServingHost.Build(overrides, urls: ["http://127.0.0.1:0"], customize: b =>
        {
            b.Logging.SetMinimumLevel(LogLevel.Warning);
            services?.Invoke(b.Services);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestServer(app, new Uri(address.TrimEnd('/') + "/"));
    }

    public T Get<T>() where T : notnull => App.Services.GetRequiredService<T>();

    /// <summary>An official OpenAI SDK client pointed at this server, without retries (so 429/503 surface at once).</summary>
    public OpenAIClient OpenAi(string key = "test-key") => new(new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = ApiUrl,
        RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0),
        NetworkTimeout = TimeSpan.FromSeconds(60),
    });

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>One shared default server for the API tests (starting a server costs ~a second).</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;
    public async Task InitializeAsync() => Server = await TestServer.StartAsync();
    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
