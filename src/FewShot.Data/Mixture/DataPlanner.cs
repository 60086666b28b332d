namespace FewShot.Data.Mixture;

/// <summary>
/// One row of a training plan. <see cref="Weight"/> and <see cref="Epochs"/> use the weight as written in the mixture
/// (Table 2.2's arithmetic); <see cref="SampledWeight"/> and <see cref="SampledEpochs"/> the normalised weight the
/// sampler uses (they differ only when the written weights do not sum to 1).
/// </summary>
public sealed record PlanRow(string Name, double Tokens, double Weight, double TokensSeen, double Epochs, double SampledWeight, double SampledEpochs);

/// <summary>
/// GPT-3's Table 2.2 arithmetic: a budget of N tokens draws weight x N tokens from each source, which is
/// weight x N / size epochs of it (e.g. Common Crawl 0.6 x 300e9 / 410e9 = 0.44).
/// </summary>
public static class DataPlanner
{
    /// <summary>Sizes come from each source's "tokens", or from <paramref name="preparedTokens"/> (a prepared data folder).</summary>
    public static IReadOnlyList<PlanRow> Plan(MixtureSpec mixture, double tokens, IReadOnlyDictionary<string, long>? preparedTokens = null)
    {
        if (!(tokens > 0)) throw new ArgumentException($"the token budget must be positive (got {tokens})");
        return [.. mixture.Sources.Select(s =>
        {
            double size = preparedTokens is not null && preparedTokens.TryGetValue(s.Name, out var prepared) ? prepared
                : s.Tokens ?? throw new ArgumentException($"source '{s.Name}' gives no size: add \"tokens\" to the mixture or plan from a prepared data folder");
            var weight = s.DeclaredWeight ?? s.Weight;
            var seen = weight * tokens;
            double Epochs(double w) => size > 0 ? w * tokens / size : double.PositiveInfinity;
            return new PlanRow(s.Name, size, weight, seen, Epochs(weight), s.Weight, Epochs(s.Weight));
        })];
    }
}
