using FewShot.Training.Recipes;
using static TorchSharp.torch;

namespace FewShot.Training.Training;

/// <summary>
/// libtorch's intra-op threads for a run. Tiny models run faster on one thread (their matrices are too small to pay
/// for splitting: see docs/training.md for the measurement); larger ones use every core.
/// </summary>
public static class ThreadSetting
{
    /// <summary>Models below this many non-embedding parameters default to one thread.</summary>
    public const long OneThreadBelow = 2_000_000;

    public static int For(TrainingRecipe recipe)
    {
        if (recipe.Threads > 0) return recipe.Threads;
        var config = recipe.ModelConfig(256);
        return Training.ModelFlops.NonEmbeddingParameters(config) < OneThreadBelow ? 1 : Environment.ProcessorCount;
    }

    public static void Apply(TrainingRecipe recipe)
    {
        set_num_threads(For(recipe));
    }
}
