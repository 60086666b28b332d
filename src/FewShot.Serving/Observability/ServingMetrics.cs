using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace FewShot.Serving.Observability;

/// <summary>
/// The server's Prometheus metrics, kept in-process and written in the text exposition format at /metrics. Counters
/// and histograms are lock-free or take a short lock per observation; nothing here touches the model thread's timing.
/// </summary>
public sealed class ServingMetrics
{
    readonly ConcurrentDictionary<(string Route, int Status), long> requests = new();
    long promptTokens, completionTokens;
    int queueDepth, activeSequences;

    public Histogram TimeToFirstToken { get; } = new("fewshot_time_to_first_token_seconds", "Time from queueing a sequence to its first generated token",
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
    public Histogram TokenLatency { get; } = new("fewshot_token_latency_seconds", "Duration of one decoding step (the time between two tokens of a sequence)",
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]);
    public Histogram BatchSize { get; } = new("fewshot_batch_size", "Sequences decoded together per step", [1, 2, 4, 8, 16, 32, 64, 128, 256]);
    public Histogram CancelToFree { get; } = new("fewshot_cancel_to_free_seconds", "Time from a client's cancellation to its batch row being freed",
        [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);

    public void CountRequest(string route, int status) => requests.AddOrUpdate((route, status), 1, (_, n) => n + 1);
    public void AddPromptTokens(int n) => Interlocked.Add(ref promptTokens, n);
    public void AddCompletionTokens(int n) => Interlocked.Add(ref completionTokens, n);
    public void SetQueueDepth(int n) => Volatile.Write(ref queueDepth, n);
    public void SetActiveSequences(int n) => Volatile.Write(ref activeSequences, n);

    public long RequestCount(string route, int status) => requests.GetValueOrDefault((route, status));

    public string Render()
    {
        var text = new StringBuilder();
        text.AppendLine("# HELP fewshot_http_requests_total HTTP requests by route and status");
        text.AppendLine("# TYPE fewshot_http_requests_total counter");
        foreach (var ((route, status), count) in requests.OrderBy(kv => kv.Key.Route, StringComparer.Ordinal).ThenBy(kv => kv.Key.Status))
            text.AppendLine(CultureInfo.InvariantCulture, $"fewshot_http_requests_total{{route=\"{Escape(route)}\",status=\"{status}\"}} {count}");
        Scalar(text, "fewshot_prompt_tokens_total", "counter", "Prompt tokens read", Interlocked.Read(ref promptTokens));
        Scalar(text, "fewshot_completion_tokens_total", "counter", "Tokens generated", Interlocked.Read(ref completionTokens));
        Scalar(text, "fewshot_queue_depth", "gauge", "Sequences waiting for a batch row", Volatile.Read(ref queueDepth));
        Scalar(text, "fewshot_active_sequences", "gauge", "Sequences being decoded", Volatile.Read(ref activeSequences));
        foreach (var histogram in new[] { TimeToFirstToken, TokenLatency, BatchSize, CancelToFree }) histogram.Render(text);
        return text.ToString();
    }

    static void Scalar(StringBuilder text, string name, string type, string help, long value)
    {
        text.AppendLine(CultureInfo.InvariantCulture, $"# HELP {name} {help}");
        text.AppendLine(CultureInfo.InvariantCulture, $"# TYPE {name} {type}");
        text.AppendLine(CultureInfo.InvariantCulture, $"{name} {value}");
    }

    static string Escape(string label) => label.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    /// <summary>A Prometheus histogram with fixed upper bounds (cumulative buckets, sum and count).</summary>
    public sealed class Histogram(string name, string help, double[] bounds)
    {
        readonly long[] counts = new long[bounds.Length + 1];
        readonly Lock gate = new();
        double sum;
        long count;

        public long Count { get { lock (gate) return count; } }

        public void Observe(double value)
        {
            lock (gate)
            {
                var i = Array.FindIndex(bounds, b => value <= b);
                counts[i < 0 ? bounds.Length : i]++;
                sum += value;
                count++;
            }
        }

        internal void Render(StringBuilder text)
        {
            lock (gate)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"# HELP {name} {help}");
                text.AppendLine(CultureInfo.InvariantCulture, $"# TYPE {name} histogram");
                long cumulative = 0;
                for (var i = 0; i < bounds.Length; i++)
                {
                    cumulative += counts[i];
                    text.AppendLine(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"{bounds[i].ToString(CultureInfo.InvariantCulture)}\"}} {cumulative}");
                }
                text.AppendLine(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"+Inf\"}} {count}");
                text.AppendLine(CultureInfo.InvariantCulture, $"{name}_sum {sum.ToString("R", CultureInfo.InvariantCulture)}");
                text.AppendLine(CultureInfo.InvariantCulture, $"{name}_count {count}");
            }
        }
    }
}
