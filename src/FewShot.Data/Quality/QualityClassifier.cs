using FewShot.Data.Dedup;

namespace FewShot.Data.Quality;

/// <summary>Settings of GPT-3's quality filter (Appendix A).</summary>
public sealed record QualityOptions
{
    /// <summary>Hashed feature buckets (a power of two).</summary>
    public int Features { get; init; } = 1 << 18;
    public int Epochs { get; init; } = 4;
    public double LearningRate { get; init; } = 0.5;
    public double L2 { get; init; } = 1e-6;
    /// <summary>At most this many documents per class train the classifier (the first ones of each source).</summary>
    public int MaxTrainDocuments { get; init; } = 5000;
    /// <summary>Shape of the Pareto draw: keep when pareto(alpha) > 1 - score (alpha = 9 in the paper).</summary>
    public double ParetoAlpha { get; init; } = 9;
    public ulong Seed { get; init; } = 1234;
}

/// <summary>
/// A logistic regression on hashed unigram and bigram word features (L2-normalised), trained by SGD with
/// reference-source documents as positives and raw-source documents as negatives; <see cref="Score"/> is the
/// probability that a document looks like the reference. <see cref="Keep"/> applies GPT-3's stochastic rule.
/// </summary>
public sealed class QualityClassifier
{
    readonly QualityOptions options;
    readonly float[] weights;
    float bias;

    QualityClassifier(QualityOptions options) { this.options = options; weights = new float[options.Features]; }

    /// <summary>Accuracy on the training documents after the last epoch.</summary>
    public double TrainingAccuracy { get; private set; }

    public static QualityClassifier Train(IReadOnlyList<string> positives, IReadOnlyList<string> negatives, QualityOptions? options = null)
    {
        options ??= new QualityOptions();
        if (positives.Count == 0 || negatives.Count == 0) throw new ArgumentException("the quality classifier needs reference (positive) and raw (negative) documents");
        var model = new QualityClassifier(options);
        var examples = positives.Select(t => (Features: model.Featurize(t), Label: 1f)).Concat(negatives.Select(t => (Features: model.Featurize(t), Label: 0f))).ToArray();
        // Balance the classes: each class contributes equally to the loss.
        float positiveWeight = (float)examples.Length / (2 * positives.Count), negativeWeight = (float)examples.Length / (2 * negatives.Count);
        var order = Enumerable.Range(0, examples.Length).ToArray();
        var random = new Random((int)(options.Seed & 0x7FFFFFFF));
        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            random.Shuffle(order);
            var lr = (float)(options.LearningRate / (1 + epoch));
            foreach (var i in order)
            {
                var (features, label) = examples[i];
                var gradient = (model.Probability(features) - label) * (label > 0 ? positiveWeight : negativeWeight);
                foreach (var (index, value) in features) model.weights[index] -= lr * (gradient * value + (float)options.L2 * model.weights[index]);
                model.bias -= lr * gradient;
            }
        }
        model.TrainingAccuracy = examples.Average(e => (model.Probability(e.Features) >= 0.5f) == (e.Label > 0) ? 1.0 : 0.0);
        return model;
    }

    public double Score(string text) => Probability(Featurize(text));

    /// <summary>GPT-3's rule: keep when a Pareto(alpha) draw exceeds 1 - score; the draw is seeded by the document hash.</summary>
    public bool Keep(double score, ulong documentHash)
    {
        var u = ((TextHash.Mix(documentHash ^ options.Seed) >> 11) + 0.5) / (1UL << 53);   // uniform in (0, 1)
        var pareto = Math.Pow(u, -1 / options.ParetoAlpha) - 1;                            // numpy.random.pareto (Lomax)
        return pareto > 1 - score;
    }

    /// <summary>
    /// The text with markup tags (&lt;see cref="..."/&gt;) removed: the classifier judges the words a reader sees, as
    /// GPT-3's did (it scored text already extracted from HTML, Common Crawl's WET files).
    /// </summary>
    internal static string WithoutMarkup(string text)
    {
        if (!text.Contains('<')) return text;
        var result = new System.Text.StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '<' && i + 1 < text.Length && (char.IsAsciiLetter(text[i + 1]) || text[i + 1] is '/' or '?' or '!'))
            {
                var close = text.IndexOf('>', i + 1);
                if (close > 0 && close - i < 2000) { result.Append(' '); i = close; continue; }
            }
            result.Append(text[i]);
        }
        return result.ToString();
    }

    float Probability((int Index, float Value)[] features)
    {
        var z = bias;
        foreach (var (index, value) in features) z += weights[index] * value;
        return 1f / (1f + MathF.Exp(-z));
    }

    (int Index, float Value)[] Featurize(string text)
    {
        var words = Words.Hashes(WithoutMarkup(text.Length > 100_000 ? text[..100_000] : text));
        var counts = new Dictionary<int, int>();
        var mask = options.Features - 1;
        for (var i = 0; i < words.Count; i++)
        {
            Add((int)(words[i] & (ulong)mask));
            if (i + 1 < words.Count) Add((int)(TextHash.Mix(words[i] * 31 ^ words[i + 1]) & (ulong)mask));
        }
        var norm = MathF.Sqrt(counts.Values.Sum(c => (float)c * c));
        return [.. counts.Select(kv => (kv.Key, kv.Value / Math.Max(norm, 1f)))];

        void Add(int bucket) => counts[bucket] = counts.GetValueOrDefault(bucket) + 1;
    }
}
