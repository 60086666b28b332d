using FewShot.Data.Dedup;

namespace FewShot.Evaluation.Running;

/// <summary>
/// The conventional baseline of the IID/OOD comparison: a nearest-centroid classifier over hashed bag-of-words features
/// of the query, one centroid per answer seen in training. It can only predict answers it has seen, which is exactly
/// what out-of-distribution queries (new numbers, held-out namespaces) take away from it.
/// </summary>
public sealed class BagOfWordsClassifier
{
    const int Buckets = 1 << 18;
    // Sparse vectors: hashed word bucket -> weight. Thousands of labels (one per word or type name) stay small.
    readonly Dictionary<string, Dictionary<int, float>> centroids = new(StringComparer.Ordinal);
    readonly string fallback;

    public BagOfWordsClassifier(IEnumerable<(string Query, string Answer)> training)
    {
        var sums = new Dictionary<string, (Dictionary<int, float> Sum, int Count)>(StringComparer.Ordinal);
        foreach (var (query, answer) in training)
        {
            var key = answer.Trim();
            if (!sums.TryGetValue(key, out var entry)) entry = ([], 0);
            foreach (var (bucket, value) in Features(query)) entry.Sum[bucket] = entry.Sum.GetValueOrDefault(bucket) + value;
            sums[key] = (entry.Sum, entry.Count + 1);
        }
        if (sums.Count == 0) throw new ArgumentException("the bag-of-words classifier needs training examples");
        foreach (var (answer, (sum, _)) in sums) centroids[answer] = Normalise(sum); // the direction of the mean
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

    static Dictionary<int, float> Features(string text)
    {
        var vector = new Dictionary<int, float>();
        foreach (var word in Words.Hashes(text))
        {
            var bucket = (int)(word % Buckets);
            vector[bucket] = vector.GetValueOrDefault(bucket) + 1;
        }
        return vector;
    }

    static Dictionary<int, float> Normalise(Dictionary<int, float> v)
    {
        var norm = MathF.Sqrt(v.Values.Sum(x => x * x));
        if (norm > 0) foreach (var key in v.Keys.ToList()) v[key] /= norm;
        return v;
    }

    static float Dot(Dictionary<int, float> a, Dictionary<int, float> b)
    {
        var s = 0f;
        foreach (var (key, value) in a) s += value * b.GetValueOrDefault(key);
        return s;
    }
}
