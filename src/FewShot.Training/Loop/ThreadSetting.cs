using FewShot.Training.Recipes;
using static TorchSharp.torch;

namespace FewShot.Training.Loop;

/// <summary>
/// libtorch's intra-op threads for a run. Tiny models run faster on one thread (their matrices are too small to pay
/// for splitting: see docs/training.md for the measurement); larger ones use every core.
/// </summary>
public static class ThreadSetting
{
    /// <summary>Models below this many non-embedding parameters default to one thread.</summary>
    public const long OneThreadBelow = 2_000_000;

    static bool Small(TrainingRecipe recipe) => ModelFlops.NonEmbeddingParameters(recipe.ModelConfig(256)) < OneThreadBelow;

    /// <summary>
    /// Two model replicas on two threads (data parallelism inside the step) for small models on a multi-core CPU,
    /// unless the recipe says otherwise. Not with dropout: both replicas would draw from libtorch's one global
    /// generator in a racy order, and the run would no longer be reproducible.
    /// </summary>
    public static int Replicas(TrainingRecipe recipe)
    {
        if (recipe.Replicas > 0) return recipe.Replicas;
        return recipe.Device == "cpu" && Small(recipe) && recipe.Dropout == 0 && recipe.MicroBatch >= 2 && Environment.ProcessorCount >= 2 ? 2 : 1;
    }

    /// <summary>Intra-op threads: the recipe's, else 1 per replica for small models, else all cores.</summary>
    public static int For(TrainingRecipe recipe)
    {
        if (recipe.Threads > 0) return recipe.Threads;
        return Small(recipe) ? 1 : Environment.ProcessorCount;
    }

    public static void Apply(TrainingRecipe recipe)
    {
        set_num_threads(For(recipe));
    }
}
