using System.Net;
using System.Net.Http.Headers;
using FewShot.Serving.Pipeline;

namespace FewShot.Serving.Upstreams;

/// <summary>A model of an upstream as clients see it: its public name, the upstream's id for it, price and kind.</summary>
public sealed record UpstreamModel(string Name, string Target, IReadOnlyList<string> Aliases, TokenPrice? Price, bool Chat, int MaxTokens, int TemplateTokens = 16);

/// <summary>
/// One upstream model server at run time: its pooled connections, API key, requests in flight, health and breaker. Its
/// URL and key stay in here: nothing that describes an upstream to a client, a log or a metric uses more than its name.
/// </summary>
public sealed class Upstream : IDisposable
{
    readonly string? apiKey;
    int outstanding;
    volatile bool healthy = true;

    public string Name { get; }
    public UpstreamSettings Settings { get; }
    public Uri ApiBase { get; }
    public HttpClient Http { get; }
    public CircuitBreaker Breaker { get; }
    public UpstreamStats Stats { get; } = new();
    public volatile IReadOnlyList<UpstreamModel> Models;

    public Upstream(string name, UpstreamSettings settings, TimeProvider time)
    {
        Name = name;
        Settings = settings;
        ApiBase = UpstreamSettingsReader.ApiBase(settings.BaseUrl);
        apiKey = settings.ApiKeyEnv is { } env ? Environment.GetEnvironmentVariable(env)?.Trim()
            : settings.ApiKeyFile is { } file ? File.ReadAllText(file).Trim() : null;
        Http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(settings.ConnectTimeoutSeconds),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
            AllowAutoRedirect = false, // a redirect could carry the key elsewhere
            UseProxy = false,
            UseCookies = false,
            MaxConnectionsPerServer = Math.Max(settings.MaxConcurrency, 2),
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        Breaker = new CircuitBreaker(settings.BreakerFailures, TimeSpan.FromSeconds(settings.BreakerOpenSeconds), time);
        Models = [.. settings.Models.Select(m => new UpstreamModel(m.Name, m.Target ?? m.Name, m.Aliases, m.Price, m.Chat, m.MaxTokens, m.TemplateTokens))];
    }

    public int Outstanding => Volatile.Read(ref outstanding);
    public bool Healthy { get => healthy; set => healthy = value; }

    /// <summary>Takes one of <see cref="UpstreamSettings.MaxConcurrency"/> places; false when all are taken.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref outstanding) <= Settings.MaxConcurrency) return true;
        Interlocked.Decrement(ref outstanding);
        return false;
    }

    public void Leave() => Interlocked.Decrement(ref outstanding);

    /// <summary>A request to the upstream with its key (never the client's) and nothing else from the client's headers.</summary>
    public HttpRequestMessage Request(HttpMethod method, string path, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, new Uri(ApiBase, path)) { Content = content, Version = HttpVersion.Version11 };
        if (apiKey is { Length: > 0 }) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        return request;
    }

    /// <summary>Replaces anything that would reveal where the upstream is or how we authenticate to it.</summary>
    public string Scrub(string text)
    {
        foreach (var secret in new[] { apiKey, ApiBase.ToString().TrimEnd('/'), ApiBase.GetLeftPart(UriPartial.Authority), ApiBase.Authority, ApiBase.Host })
            if (!string.IsNullOrEmpty(secret)) text = text.Replace(secret, "[upstream]", StringComparison.OrdinalIgnoreCase);
        return text;
    }

    public void Dispose() => Http.Dispose();
}
