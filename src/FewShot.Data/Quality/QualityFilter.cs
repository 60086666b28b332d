using FewShot.Data.Dedup;

namespace FewShot.Data.Quality;

/// <summary>
/// GPT-3's quality filter, cross-fitted: the raw documents that serve as negatives are split in two by hash, and each
/// half is scored by the classifier trained without it. A classifier scoring its own training negatives would
/// memorise them (hashed n-grams are nearly unique per document) and reject the good documents of the raw source
/// exactly because they were labelled raw; out-of-fold scores measure resemblance to the reference instead.
/// </summary>
public sealed class QualityFilter
{
    readonly QualityClassifier[] models;   // models[p] never saw negatives whose hash parity is p

    QualityFilter(QualityClassifier[] models) => this.models = models;

    /// <summary>Mean training accuracy of the two classifiers.</summary>
    public double TrainingAccuracy => models.Average(m => m.TrainingAccuracy);

    public static QualityFilter Train(IReadOnlyList<string> positives, IReadOnlyList<string> negatives, QualityOptions? options = null)
    {
        var byParity = negatives.GroupBy(t => ExactDeduplicator.Hash(t) & 1).ToDictionary(g => g.Key, g => g.ToList());
        var models = new QualityClassifier[2];
        for (var parity = 0UL; parity < 2; parity++)
        {
            var others = byParity.GetValueOrDefault(1 - parity) ?? byParity.GetValueOrDefault(parity) ?? [];
            models[parity] = QualityClassifier.Train(positives, others, options);
        }
        return new QualityFilter(models);
    }

    /// <summary>P(reference-like) for a document whose <see cref="ExactDeduplicator.Hash"/> is <paramref name="hash"/>.</summary>
    public double Score(string text, ulong hash) => models[hash & 1].Score(text);

    /// <summary>GPT-3's rule: keep when pareto(alpha) > 1 - score, the draw seeded by the document hash.</summary>
    public bool Keep(double score, ulong hash) => models[0].Keep(score, hash);
}
