using FewShot.Training.Recipes;

namespace FewShot.Training.Schedules;

/// <summary>
/// Linear warmup to the peak, cosine decay to the floor, then the floor (GPT-3 Appendix B: cosine to 10% of the peak
/// over 260B tokens, warmup over 375M tokens). Positions are optimizer steps, or tokens seen when the recipe states its
/// lengths in tokens.
/// </summary>
/// <param name="Warmup">Length of the warmup, in the schedule's unit.</param>
/// <param name="DecayEnd">Position where the cosine reaches the floor.</param>
public sealed record LearningRateSchedule(double Peak, double Floor, long Warmup, long DecayEnd, bool InTokens)
{
    public static LearningRateSchedule For(TrainingRecipe recipe)
    {
        var iterations = recipe.TotalIterations;
        if (recipe.ScheduleInTokens)
        {
            var total = (long)iterations * recipe.FullBatchTokens;
            return new(recipe.PeakLearningRate, recipe.FloorLearningRate, recipe.WarmupTokens ?? 0, recipe.DecayTokens ?? total, InTokens: true);
        }
        var warmup = recipe.WarmupIterations ?? Math.Min(100, iterations / 10);
        return new(recipe.PeakLearningRate, recipe.FloorLearningRate, warmup, recipe.DecayIterations ?? iterations, InTokens: false);
    }

    /// <summary>The rate for the step that starts at <paramref name="step"/> with <paramref name="tokens"/> tokens already seen.</summary>
    public double At(long step, long tokens) => AtPosition(InTokens ? tokens : step);

    public double AtPosition(long position)
    {
        // Warmup: (p + 1) / (warmup + 1) of the peak, so the first step already moves (nanoGPT's form).
        if (position < Warmup) return Peak * (position + 1) / (Warmup + 1);
        if (position >= DecayEnd) return Floor;
        var progress = (double)(position - Warmup) / Math.Max(1, DecayEnd - Warmup); // 0 -> 1
        var cosine = 0.5 * (1 + Math.Cos(Math.PI * progress)); // 1 -> 0
        return Floor + cosine * (Peak - Floor);
    }
}
