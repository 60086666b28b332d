using System.Text;

namespace FewShot.Evaluation.Scoring;

/// <summary>A mean with its standard error (sample standard deviation / sqrt(n)).</summary>
public readonly record struct Estimate(double Value, double StdErr, int N)
{
    public static Estimate Of(IReadOnlyCollection<double> values)
    {
        var n = values.Count;
        if (n == 0) return new Estimate(double.NaN, double.NaN, 0);
        var mean = values.Average();
        var variance = n > 1 ? values.Sum(v => (v - mean) * (v - mean)) / (n - 1) : 0;
        return new Estimate(mean, Math.Sqrt(variance / n), n);
    }
}

/// <summary>Answer comparisons for free-form generation (SQuAD-style normalisation).</summary>
public static class AnswerMetrics
{
    /// <summary>Lower-cased words with punctuation removed.</summary>
    public static string[] Words(string text)
    {
        var clean = new StringBuilder(text.Length);
        foreach (var c in text.ToLowerInvariant()) clean.Append(char.IsPunctuation(c) || char.IsSymbol(c) ? ' ' : c);
        return clean.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
    }

    public static double ExactMatch(string prediction, string answer) =>
        string.Join(' ', Words(prediction)) == string.Join(' ', Words(answer)) ? 1 : 0;

    /// <summary>Harmonic mean of precision and recall of the prediction's words against the answer's (as multisets).</summary>
    public static double TokenF1(string prediction, string answer)
    {
        var predicted = Words(prediction);
        var expected = Words(answer);
        if (predicted.Length == 0 || expected.Length == 0) return predicted.Length == expected.Length ? 1 : 0;
        var counts = expected.GroupBy(w => w).ToDictionary(g => g.Key, g => g.Count());
        var common = 0;
        foreach (var word in predicted)
            if (counts.TryGetValue(word, out var left) && left > 0) { common++; counts[word] = left - 1; }
        if (common == 0) return 0;
        var precision = (double)common / predicted.Length;
        var recall = (double)common / expected.Length;
        return 2 * precision * recall / (precision + recall);
    }
}
