using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FewShot.Serving.Upstreams;

/// <summary>Where a model can be served: one upstream and the model as it knows it.</summary>
public sealed record UpstreamRoute(Upstream Upstream, UpstreamModel Model);

/// <summary>
/// Finds the upstreams that serve a model name or alias and picks one: among those whose health check passes and whose
/// breaker lets requests through, the fewest requests in flight per unit of weight. Checks every upstream's health
/// (GET /v1/models, which also discovers models where the settings list none) at start and then periodically.
/// </summary>
public sealed class UpstreamRouter : BackgroundService
{
    readonly ILogger<UpstreamRouter> log;
    volatile Dictionary<string, UpstreamRoute[]> routes = [];

    public IReadOnlyList<Upstream> Upstreams { get; }
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    public UpstreamRouter(IReadOnlyDictionary<string, UpstreamSettings> settings, TimeProvider time, ILogger<UpstreamRouter> log)
    {
        this.log = log;
        Upstreams = [.. settings.Select(s => new Upstream(s.Key, s.Value, time))];
        Rebuild();
    }

    /// <summary>The models clients can ask for (each once, under its name).</summary>
    public IEnumerable<(string Name, Upstream Upstream)> Models =>
        Upstreams.SelectMany(u => u.Models.Select(m => (m.Name, u))).DistinctBy(m => m.Name);

    public bool Serves(string model) => routes.ContainsKey(model);

    /// <summary>Every upstream that serves <paramref name="model"/> (by name or alias), whatever its state.</summary>
    public UpstreamRoute[] Candidates(string model) => routes.TryGetValue(model, out var found) ? found : [];

    public bool AllHealthy => Upstreams.All(u => u.Healthy);

    /// <summary>The next upstream to try for <paramref name="model"/> (not one in <paramref name="tried"/>); null, with how long to wait, when none can take it now.</summary>
    public UpstreamRoute? Choose(string model, IReadOnlySet<Upstream> tried, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.FromSeconds(1);
        if (!routes.TryGetValue(model, out var candidates)) return null;
        var ordered = candidates.Where(r => !tried.Contains(r.Upstream) && r.Upstream.Healthy)
            .OrderBy(r => (r.Upstream.Outstanding + 1) / r.Upstream.Settings.Weight).ThenBy(_ => Random.Shared.Next());
        var waits = new List<TimeSpan>();
        foreach (var route in ordered)
        {
            if (route.Upstream.Breaker.TryPass(out var wait)) return route;
            waits.Add(wait);
        }
        if (candidates.Any(r => !r.Upstream.Healthy)) waits.Add(TimeSpan.FromSeconds(candidates.Min(r => r.Upstream.Settings.HealthIntervalSeconds)));
        if (waits.Count > 0) retryAfter = waits.Min();
        return null;
    }

    void Rebuild()
    {
        var table = new Dictionary<string, List<UpstreamRoute>>(StringComparer.Ordinal);
        foreach (var upstream in Upstreams)
            foreach (var model in upstream.Models)
                foreach (var name in model.Aliases.Prepend(model.Name).Distinct())
                {
                    if (!table.TryGetValue(name, out var list)) table[name] = list = [];
                    list.Add(new UpstreamRoute(upstream, model));
                }
        routes = table.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal);
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // The first check before the server takes requests, so /healthz and routing start from what is true; a down upstream does not stop the start.
        await Task.WhenAll(Upstreams.Select(u => CheckAsync(u, cancellationToken)));
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        if (Upstreams.Count == 0) return;
        var interval = TimeSpan.FromSeconds(Upstreams.Min(u => u.Settings.HealthIntervalSeconds));
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
                await Task.WhenAll(Upstreams.Select(u => CheckAsync(u, stop)));
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    /// <summary>GET /v1/models within the connect + first-byte timeouts: healthy when it answers 200 with a model list.</summary>
    async Task CheckAsync(Upstream upstream, CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(Math.Min(upstream.Settings.ConnectTimeoutSeconds + upstream.Settings.FirstByteTimeoutSeconds, upstream.Settings.HealthIntervalSeconds)));
        var wasHealthy = upstream.Healthy;
        string? problem = null;
        try
        {
            using var request = upstream.Request(HttpMethod.Get, "models");
            using var response = await upstream.Http.SendAsync(request, timeout.Token);
            if (!response.IsSuccessStatusCode) problem = $"status {(int)response.StatusCode}";
            else if (upstream.Settings.Models.Count == 0)
            {
                var list = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync(timeout.Token))?["data"]?.AsArray();
                var ids = list?.Select(m => m?["id"]?.GetValue<string>()).OfType<string>().ToList() ?? [];
                upstream.Models = [.. ids.Select(id => new UpstreamModel(id, id, [], null, true, 4096))];
                Rebuild();
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested) { return; }
        catch (OperationCanceledException) { problem = "timed out"; }
        catch (HttpRequestException e) { problem = $"unreachable ({e.HttpRequestError})"; }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { problem = "not a model list"; }
        upstream.Healthy = problem is null;
        if (problem is not null && wasHealthy) log.LogWarning("upstream {Upstream} health check failed: {Problem}", upstream.Name, problem);
        else if (problem is null && !wasHealthy) log.LogInformation("upstream {Upstream} is healthy again", upstream.Name);
    }

    public override void Dispose()
    {
        foreach (var u in Upstreams) u.Dispose();
        base.Dispose();
    }
}
