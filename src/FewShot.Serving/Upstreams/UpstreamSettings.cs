using System.Text.RegularExpressions;
using FewShot.Serving.Pipeline;
using Microsoft.Extensions.Configuration;

namespace FewShot.Serving.Upstreams;

/// <summary>
/// One upstream model server, from <c>Serving:Upstreams:NAME</c> (or <c>--upstream NAME=URL</c>): any server with an
/// OpenAI-compatible API (vLLM, llama-server, Ollama, OpenAI, another <c>fewshot serve</c>). Its API key is never in the
/// settings: name an environment variable (<see cref="ApiKeyEnv"/>) or a file (<see cref="ApiKeyFile"/>).
/// </summary>
public sealed class UpstreamSettings
{
    /// <summary>The API's base URL, e.g. http://10.0.0.5:8000/v1 (a URL without a path gets /v1).</summary>
    public string BaseUrl { get; set; } = "";
    public string? ApiKeyEnv { get; set; }
    public string? ApiKeyFile { get; set; }
    /// <summary>The models it serves; empty: discovered from its /v1/models (as chat models, free).</summary>
    public List<UpstreamModelSettings> Models { get; set; } = [];
    /// <summary>Share of the traffic among upstreams serving the same model.</summary>
    public double Weight { get; set; } = 1;
    public int MaxConcurrency { get; set; } = 64;
    public double ConnectTimeoutSeconds { get; set; } = 5;
    /// <summary>Until the response's headers (non-streamed: its whole body) or a stream's first event; a retry on another upstream is still possible.</summary>
    public double FirstByteTimeoutSeconds { get; set; } = 60;
    /// <summary>The longest silence between two events of a stream.</summary>
    public double IdleTimeoutSeconds { get; set; } = 30;
    public double TotalTimeoutSeconds { get; set; } = 600;
    public double HealthIntervalSeconds { get; set; } = 10;
    /// <summary>Consecutive failures that open the circuit breaker.</summary>
    public int BreakerFailures { get; set; } = 5;
    /// <summary>How long an open breaker keeps requests away before letting one through to try again.</summary>
    public double BreakerOpenSeconds { get; set; } = 30;

    internal static readonly string[] Known = [nameof(BaseUrl), nameof(ApiKeyEnv), nameof(ApiKeyFile), nameof(Models), nameof(Weight), nameof(MaxConcurrency),
        nameof(ConnectTimeoutSeconds), nameof(FirstByteTimeoutSeconds), nameof(IdleTimeoutSeconds), nameof(TotalTimeoutSeconds),
        nameof(HealthIntervalSeconds), nameof(BreakerFailures), nameof(BreakerOpenSeconds)];
}

/// <summary>A model an upstream serves: the name clients send, the upstream's own id for it, its price and its kind.</summary>
public sealed class UpstreamModelSettings
{
    public string Name { get; set; } = "";
    /// <summary>The model's id at the upstream (default: <see cref="Name"/>).</summary>
    public string? Target { get; set; }
    public List<string> Aliases { get; set; } = [];
    /// <summary>Dollars per 1,000 prompt tokens (0: free, budgeted in tokens only).</summary>
    public decimal PromptPrice { get; set; }
    public decimal CompletionPrice { get; set; }
    /// <summary>True: messages go through as they are (a chat mode's description becomes the system message). False: a base model.</summary>
    public bool Chat { get; set; } = true;
    /// <summary>The most completion tokens one choice may ask for; also what is reserved when a request names none.</summary>
    public int MaxTokens { get; set; } = 4096;
    /// <summary>Prompt tokens the upstream's chat template adds per request, reserved on top of the messages (see docs/gateway.md).</summary>
    public int TemplateTokens { get; set; } = 16;

    internal static readonly string[] Known = [nameof(Name), nameof(Target), nameof(Aliases), nameof(PromptPrice), nameof(CompletionPrice), nameof(Chat),
        nameof(MaxTokens), nameof(TemplateTokens)];

    internal TokenPrice? Price => PromptPrice == 0 && CompletionPrice == 0 ? null : new TokenPrice(PromptPrice, CompletionPrice);
}

/// <summary>Reads and checks <c>Serving:Upstreams</c>: every problem is one line naming the setting (the CLI exits 2 on it).</summary>
public static partial class UpstreamSettingsReader
{
    public const string Section = "Serving:Upstreams";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();

    public static IReadOnlyDictionary<string, UpstreamSettings> Read(IConfiguration configuration)
    {
        var result = new Dictionary<string, UpstreamSettings>(StringComparer.OrdinalIgnoreCase);
        foreach (var section in configuration.GetSection(Section).GetChildren())
        {
            var path = $"{Section}:{section.Key}";
            if (!NamePattern().IsMatch(section.Key)) throw new ArgumentException($"{path}: an upstream's name is letters, digits, '.', '_' or '-'");
            Unknown(section, path, UpstreamSettings.Known);
            foreach (var model in section.GetSection(nameof(UpstreamSettings.Models)).GetChildren())
                Unknown(model, $"{path}:Models:{model.Key}", UpstreamModelSettings.Known);
            UpstreamSettings settings;
            try { settings = section.Get<UpstreamSettings>() ?? new UpstreamSettings(); }
            catch (InvalidOperationException e) { throw new ArgumentException($"{path}: {e.InnerException?.Message ?? e.Message}"); }
            Check(settings, path);
            result[section.Key] = settings;
        }
        return result;
    }

    static void Unknown(IConfigurationSection section, string path, string[] known)
    {
        foreach (var child in section.GetChildren())
            if (!known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                throw new ArgumentException($"{path}:{child.Key}: unknown setting (known: {string.Join(", ", known)})");
    }

    static void Check(UpstreamSettings s, string path)
    {
        if (!Uri.TryCreate(s.BaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new ArgumentException($"{path}:BaseUrl: '{s.BaseUrl}' is not an http(s) URL");
        // Not echoed: whatever sits in the user part or the query may be a key.
        if (uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
            throw new ArgumentException($"{path}:BaseUrl: must not carry credentials, a query or a fragment (give the key through ApiKeyEnv or ApiKeyFile)");
        if (s.ApiKeyEnv is { } env && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(env)))
            throw new ArgumentException($"{path}:ApiKeyEnv: the environment variable {env} is not set");
        if (s.ApiKeyFile is { } file && !File.Exists(file))
            throw new ArgumentException($"{path}:ApiKeyFile: {file} not found");
        Positive(s.Weight, path, nameof(s.Weight));
        Positive(s.MaxConcurrency, path, nameof(s.MaxConcurrency));
        Positive(s.BreakerFailures, path, nameof(s.BreakerFailures));
        foreach (var (name, value) in new[] { (nameof(s.ConnectTimeoutSeconds), s.ConnectTimeoutSeconds), (nameof(s.FirstByteTimeoutSeconds), s.FirstByteTimeoutSeconds),
                     (nameof(s.IdleTimeoutSeconds), s.IdleTimeoutSeconds), (nameof(s.TotalTimeoutSeconds), s.TotalTimeoutSeconds),
                     (nameof(s.HealthIntervalSeconds), s.HealthIntervalSeconds), (nameof(s.BreakerOpenSeconds), s.BreakerOpenSeconds) })
            if (!(value > 0 && value <= 86_400)) throw new ArgumentException($"{path}:{name}: {value} is not between 0 and 86400 seconds");
        for (var i = 0; i < s.Models.Count; i++)
        {
            var m = s.Models[i];
            var at = $"{path}:Models:{i}";
            if (string.IsNullOrWhiteSpace(m.Name)) throw new ArgumentException($"{at}:Name: required");
            if (m.PromptPrice < 0 || m.CompletionPrice < 0) throw new ArgumentException($"{at}: prices cannot be negative");
            Positive(m.MaxTokens, at, nameof(m.MaxTokens));
            if (m.TemplateTokens < 0) throw new ArgumentException($"{at}:TemplateTokens: cannot be negative");
        }
    }

    static void Positive(double value, string path, string name)
    {
        if (!(value > 0)) throw new ArgumentException($"{path}:{name}: must be positive (got {value})");
    }

    /// <summary>The API base with a trailing slash; a bare host gets /v1.</summary>
    public static Uri ApiBase(string baseUrl)
    {
        var uri = new Uri(baseUrl);
        var path = uri.AbsolutePath.TrimEnd('/');
        return new UriBuilder(uri) { Path = (path.Length == 0 ? "/v1" : path) + "/" }.Uri;
    }
}
