using FewShot.Serving.Engine;
using FewShot.Serving.Upstreams;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace FewShot.Serving.Observability;

/// <summary>/healthz (liveness plus the batch's state) and /metrics (Prometheus text format).</summary>
public static class HealthEndpoints
{
    /// <summary>status: "ok", or "degraded" while an upstream model server fails its health check (each upstream: ok, down or breaker_open).</summary>
    public sealed record Health(string status, string? model, int active_sequences, int queued, long steps, Dictionary<string, string>? upstreams);

    public static RouteGroupBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/healthz");
        group.MapGet("", ([FromServices] ServedModel? served, [FromServices] BatchScheduler? scheduler, UpstreamRouter router) =>
            TypedResults.Ok(new Health(router.AllHealthy ? "ok" : "degraded", served?.Name, scheduler?.ActiveSequences ?? 0, scheduler?.QueueDepth ?? 0, scheduler?.Steps ?? 0,
                router.Upstreams.Count == 0 ? null : router.Upstreams.ToDictionary(u => u.Name,
                    u => !u.Healthy ? "down" : u.Breaker.Current == CircuitBreaker.State.Closed ? "ok" : "breaker_open"))));
        return group;
    }

    public static RouteGroupBuilder MapMetrics(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/metrics");
        group.MapGet("", (ServingMetrics metrics, IEnumerable<IMetricsSource> others) =>
        {
            var text = new System.Text.StringBuilder(metrics.Render());
            foreach (var source in others) source.WritePrometheus(text);
            return TypedResults.Text(text.ToString(), "text/plain; version=0.0.4; charset=utf-8");
        });
        return group;
    }
}
