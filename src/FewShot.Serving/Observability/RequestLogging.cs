using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FewShot.Serving.Observability;

/// <summary>
/// Gives every request an id (the client's X-Request-Id when it is sane, else a fresh one; echoed in the response),
/// logs one structured line per request, and counts requests by route pattern and status.
/// </summary>
public static class RequestLogging
{
    public static IApplicationBuilder UseRequestLogging(this IApplicationBuilder app)
    {
        var metrics = app.ApplicationServices.GetRequiredService<ServingMetrics>();
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("FewShot.Serving.Requests");
        return app.Use(async (http, next) =>
        {
            var given = http.Request.Headers["X-Request-Id"].ToString();
            var requestId = given.Length is > 0 and <= 64 && given.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') ? given : "req_" + Guid.NewGuid().ToString("N")[..16];
            http.TraceIdentifier = requestId;
            http.Response.Headers["X-Request-Id"] = requestId;
            var started = Stopwatch.GetTimestamp();
            using var scope = logger.BeginScope(new Dictionary<string, object> { ["RequestId"] = requestId });
            try { await next(http); }
            finally
            {
                var route = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
                var status = http.RequestAborted.IsCancellationRequested && !http.Response.HasStarted ? 499 : http.Response.StatusCode;
                metrics.CountRequest(route, status);
                logger.LogInformation("{RequestId} {Method} {Route} -> {Status} in {ElapsedMs:F1} ms", requestId, http.Request.Method, route, status,
                    Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        });
    }
}
