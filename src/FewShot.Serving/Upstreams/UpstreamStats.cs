using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using FewShot.Serving.Observability;

namespace FewShot.Serving.Upstreams;

/// <summary>What one upstream did: requests by outcome, latency to the first byte, tokens charged.</summary>
public sealed class UpstreamStats
{
    readonly ConcurrentDictionary<string, long> outcomes = new();
    long promptTokens, completionTokens, estimated;

    public ServingMetrics.Histogram FirstByte { get; } = new("fewshot_upstream_first_byte_seconds", "Time from sending to an upstream to its first byte (stream: first event)",
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

    public void Count(string outcome) => outcomes.AddOrUpdate(outcome, 1, (_, n) => n + 1);
    public long Outcome(string outcome) => outcomes.GetValueOrDefault(outcome);

    public void Tokens(int prompt, int completion, bool isEstimate)
    {
        Interlocked.Add(ref promptTokens, prompt);
        Interlocked.Add(ref completionTokens, completion);
        if (isEstimate) Interlocked.Increment(ref estimated);
    }

    internal void Write(StringBuilder text, string label)
    {
        foreach (var (outcome, count) in outcomes.OrderBy(o => o.Key, StringComparer.Ordinal))
            text.AppendLine(CultureInfo.InvariantCulture, $"fewshot_upstream_requests_total{{{label},outcome=\"{outcome}\"}} {count}");
        text.AppendLine(CultureInfo.InvariantCulture, $"fewshot_upstream_prompt_tokens_total{{{label}}} {Interlocked.Read(ref promptTokens)}");
        text.AppendLine(CultureInfo.InvariantCulture, $"fewshot_upstream_completion_tokens_total{{{label}}} {Interlocked.Read(ref completionTokens)}");
        text.AppendLine(CultureInfo.InvariantCulture, $"fewshot_upstream_estimated_usage_total{{{label}}} {Interlocked.Read(ref estimated)}");
    }
}

/// <summary>The upstreams' metrics on /metrics: requests by outcome, first-byte latency, breaker state, health, tokens, requests in flight.</summary>
public sealed class UpstreamMetrics(UpstreamRouter router) : IMetricsSource
{
    public void WritePrometheus(StringBuilder text)
    {
        if (router.Upstreams.Count == 0) return;
        text.AppendLine("# HELP fewshot_upstream_breaker_state Circuit breaker per upstream: 0 closed, 1 open, 2 half-open");
        text.AppendLine("# TYPE fewshot_upstream_breaker_state gauge");
        foreach (var u in router.Upstreams)
        {
            var label = $"upstream=\"{u.Name}\"";
            text.AppendLine(CultureInfo.InvariantCulture, $"fewshot_upstream_breaker_state{{{label}}} {(int)u.Breaker.Current}");
            text.AppendLine(CultureInfo.InvariantCulture, $"fewshot_upstream_healthy{{{label}}} {(u.Healthy ? 1 : 0)}");
            text.AppendLine(CultureInfo.InvariantCulture, $"fewshot_upstream_in_flight{{{label}}} {u.Outstanding}");
            u.Stats.Write(text, label);
        }
        foreach (var u in router.Upstreams)
        {
            var histogram = new StringBuilder();
            u.Stats.FirstByte.Render(histogram);
            // One histogram per upstream: label its samples.
            foreach (var line in histogram.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))
                text.AppendLine(line.StartsWith('#') ? line : Label(line, u.Name));
        }
    }

    static string Label(string sample, string upstream)
    {
        var space = sample.IndexOf(' ');
        var brace = sample.IndexOf('{');
        return brace >= 0 && brace < space
            ? sample.Insert(brace + 1, $"upstream=\"{upstream}\",")
            : sample.Insert(space, $"{{upstream=\"{upstream}\"}}");
    }
}
