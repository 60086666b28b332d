using System.Text;

namespace FewShot.Serving.Observability;

/// <summary>Something besides the server itself that has Prometheus metrics to show on /metrics (the access library's rejections).</summary>
public interface IMetricsSource
{
    void WritePrometheus(StringBuilder output);
}
