using FewShot.Serving.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace FewShot.Serving.Observability;

/// <summary>/healthz (liveness plus the batch's state) and /metrics (Prometheus text format).</summary>
public static class HealthEndpoints
{
    public sealed record Health(string status, string model, int active_sequences, int queued, long steps);

    public static RouteGroupBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/healthz");
        group.MapGet("", (ServedModel served, BatchScheduler scheduler) =>
            TypedResults.Ok(new Health("ok", served.Name, scheduler.ActiveSequences, scheduler.QueueDepth, scheduler.Steps)));
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
