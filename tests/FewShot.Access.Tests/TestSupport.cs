using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using FewShot.Access;
using FewShot.Benchmarks;
using FewShot.Access.Keys;

namespace FewShot.Access.Tests;

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    DateTimeOffset now = start;
    public override DateTimeOffset GetUtcNow() => now;
    public void Advance(TimeSpan by) => now += by;
}

/// <summary>A simulated server on a fresh database in a temporary folder, with an admin key and helpers to call it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    public SimulatedServer Server { get; private init; } = null!;
    public string Folder { get; private init; } = "";
    public string DatabasePath => Path.Combine(Folder, "access.db");
    public string Admin { get; private set; } = "";

    public static async Task<TestServer> StartAsync(Action<AccessOptions>? change = null, TimeSpan? generationTime = null)
    {
        var folder = Directory.CreateTempSubdirectory("fewshot-access-test-").FullName;
        string? admin = null;
        var server = await SimulatedServer.StartAsync(options =>
        {
            options.DatabasePath = Path.Combine(folder, "access.db");
            options.OnAdminKeyCreated = k => admin = k;
            options.TrustedProxies = ["127.0.0.1/32"];
            change?.Invoke(options);
        }, generationTime ?? TimeSpan.Zero);
        return new TestServer { Server = server, Folder = folder, Admin = admin ?? "" };
    }

    public KeyService Keys => Server.Access.Keys;

    public async Task<string> IssueAsync(KeyLimits? limits = null, string[]? models = null, string[]? modes = null, DateTimeOffset? expires = null) =>
        (await Keys.IssueAsync(new KeySpec("test", expires, models ?? [], modes ?? [], limits ?? KeyLimits.None), "test")).Key;

    public HttpClient Client(string? key = null, string? forwardedFor = null)
    {
        var client = new HttpClient { BaseAddress = Server.BaseAddress };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (forwardedFor is not null) client.DefaultRequestHeaders.Add("X-Forwarded-For", forwardedFor);
        return client;
    }

    public static StringContent Chat(int maxTokens = 16, string model = "fewshot", string? mode = null, string prompt = "hello there") => new(
        new JsonObject
        {
            ["model"] = model,
            ["mode"] = mode,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
            ["max_tokens"] = maxTokens,
        }.ToJsonString(), Encoding.UTF8, "application/json");

    /// <summary>The OpenAI error object of a response (asserts the shape).</summary>
    public static async Task<JsonObject> ErrorAsync(HttpResponseMessage response)
    {
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        var error = json["error"]!.AsObject();
        Assert.True(error.ContainsKey("message") && error.ContainsKey("type") && error.ContainsKey("param") && error.ContainsKey("code"),
            $"not OpenAI's error shape: {json}");
        return error;
    }

    public async Task<long> ChargedAsync()
    {
        await Server.Access.Budgets.FlushAsync();
        return await Server.Access.Store.SumUsageAsync(null, DateTimeOffset.UnixEpoch);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}
