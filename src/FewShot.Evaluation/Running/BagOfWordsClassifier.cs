using FewShot.Evaluation.Contamination;

namespace FewShot.Evaluation.Running;

/// <summary>
/// The conventional baseline of the IID/OOD comparison: a nearest-centroid classifier over hashed bag-of-words features
/// of the query, one centroid per answer seen in training. It can only predict answers it has seen, which is exactly
/// what out-of-distribution queries (new numbers, held-out namespaces) take away from it.
/// </summary>
public sealed class BagOfWordsClassifier
{
    const int Buckets = 1 << 14;
    readonly Dictionary<string, float[]> centroids = new(StringComparer.Ordinal);
    readonly string fallback;

    public BagOfWordsClassifier(IEnumerable<(string Query, string Answer)> training)
    {
        var sums = new Dictionary<string, (float[] Sum, int Count)>(StringComparer.Ordinal);
        foreach (var (query, answer) in training)
        {
            var key = answer.Trim();
            if (!sums.TryGetValue(key, out var entry)) entry = (new float[Buckets], 0);
            var features = Features(query);
            for (var i = 0; i < Buckets; i++) entry.Sum[i] += features[i];
            sums[key] = (entry.Sum, entry.Count + 1);
        }
        if (sums.Count == 0) throw new ArgumentException("the bag-of-words classifier needs training examples");
        foreach (var (answer, (sum, count)) in sums) centroids[answer] = Normalise(sum.Select(v => v / count).ToArray());
        fallback = sums.MaxBy(kv => kv.Value.Count).Key;
    }

    /// <summary>The closest centroid's answer, among <paramref name="candidates"/> when given (multiple choice).</summary>
    public string Predict(string query, IReadOnlyList<string>? candidates = null)
    {
        var features = Normalise(Features(query));
        var labels = candidates?.Select(c => c.Trim()).Where(centroids.ContainsKey).ToList() ?? [.. centroids.Keys];
        if (labels.Count == 0) return candidates is { Count: > 0 } ? candidates[0].Trim() : fallback;
        return labels.MaxBy(label => Dot(features, centroids[label]))!;
    }

    static float[] Features(string text)
    {
        var vector = new float[Buckets];
        foreach (var word in NGrams.Normalise(text)) vector[(int)(NGrams.Hash([word], 0, 1) % Buckets)] += 1;
        return vector;
    }

    static float[] Normalise(float[] v)
    {
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        if (norm > 0) for (var i = 0; i < v.Length; i++) v[i] /= norm;
        return v;
    }

    static float Dot(float[] a, float[] b)
    {
        var s = 0f;
        for (var i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
