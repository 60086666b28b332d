using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;

namespace FewShot.Access.Http;

/// <summary>
/// Every rejection counted by reason, both as a System.Diagnostics.Metrics counter ("fewshot.access.rejections", tag
/// "reason") and as a snapshot the server's /metrics page can print with <see cref="WritePrometheus"/>.
/// </summary>
public sealed class AccessMetrics : IDisposable, FewShot.Serving.Observability.IMetricsSource
{
    readonly Meter meter = new("FewShot.Access");
    readonly Counter<long> rejections;
    readonly ConcurrentDictionary<string, long> counts = new();
    long admitted;

    public AccessMetrics() => rejections = meter.CreateCounter<long>("fewshot.access.rejections", description: "requests refused by access control");

    public void Reject(string reason)
    {
        counts.AddOrUpdate(reason, 1, (_, n) => n + 1);
        rejections.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    public void Admit() => Interlocked.Increment(ref admitted);

    public long Admitted => Interlocked.Read(ref admitted);
    public IReadOnlyDictionary<string, long> Rejections => counts.ToDictionary();
    public long RejectionCount(string reason) => counts.GetValueOrDefault(reason);

    /// <summary>Prometheus text: fewshot_access_rejections_total{reason="..."} N, and fewshot_access_admitted_total.</summary>
    public void WritePrometheus(StringBuilder output)
    {
        output.AppendLine("# TYPE fewshot_access_rejections_total counter");
        foreach (var (reason, n) in counts.OrderBy(c => c.Key, StringComparer.Ordinal))
            output.Append("fewshot_access_rejections_total{reason=\"").Append(reason).Append("\"} ").Append(n).AppendLine();
        output.AppendLine("# TYPE fewshot_access_admitted_total counter");
        output.Append("fewshot_access_admitted_total ").Append(Admitted).AppendLine();
    }

    public void Dispose() => meter.Dispose();
}
