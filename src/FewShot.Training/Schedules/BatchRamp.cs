using FewShot.Training.Recipes;

namespace FewShot.Training.Schedules;

/// <summary>
/// The batch size of each step, in micro-batches: ramps linearly in tokens seen from a small batch to the full batch
/// (GPT-3 ramps from 32k tokens to the full batch over the first 4-12B tokens), rounded down to whole micro-batches and
/// never below one.
/// </summary>
public sealed record BatchRamp(long MicroBatchTokens, long FullBatchTokens, long StartTokens, long RampTokens)
{
    public static BatchRamp For(TrainingRecipe recipe) =>
        new(recipe.MicroBatchTokens, recipe.FullBatchTokens, recipe.BatchRampStartTokens, recipe.BatchRampTokens);

    public int FullMicroBatches => (int)(FullBatchTokens / MicroBatchTokens);

    /// <summary>Micro-batches to accumulate in the step that starts after <paramref name="tokensSeen"/> tokens.</summary>
    public int MicroBatchesAt(long tokensSeen)
    {
        if (RampTokens <= 0 || tokensSeen >= RampTokens) return FullMicroBatches;
        var start = Math.Min(StartTokens, FullBatchTokens);
        var tokens = start + (FullBatchTokens - start) * (double)tokensSeen / RampTokens;
        return (int)Math.Clamp((long)(tokens / MicroBatchTokens), 1, FullMicroBatches);
    }
}
