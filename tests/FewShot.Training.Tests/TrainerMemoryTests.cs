using FewShot.Model.Runtime;
using FewShot.Training.Runs;
using FewShot.Training.Loop;
using static TorchSharp.torch;

namespace FewShot.Training.Tests;

/// <summary>TorchSharp's live-tensor count is process-wide: these tests run while no other test does.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TensorCountCollection
{
    public const string Name = "tensor count";
}

[Collection(TensorCountCollection.Name)]
public class TrainerMemoryTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)] // the replica thread's tensors count too (TorchSharp's count is process-wide)
    public void LiveTensorCountDoesNotGrowWithSteps(int replicas)
    {
        using var temp = new TempFolder();
        var recipe = TrainingRunTests.SmallRecipe(iters: 16, dropout: 0);
        (recipe.Replicas, recipe.EvalInterval, recipe.CheckpointInterval, recipe.EvalBatches) = (replicas, 5, 5, 2);
        var live = new Dictionary<long, long>();
        using (var session = TrainingSession.Prepare(new TrainingRequest(recipe, TrainingRunTests.SmallText(temp.Path), OutFolder: temp.File("run")), _ => { }))
        {
            // Between steps 8 and 16 the trainer evaluates, samples and checkpoints as it did before step 8 (steps 5, 10, 15).
            session.Trainer.StepCompleted += r =>
            {
                if (r.Step is not (8 or 16)) return;
                live[r.Step] = TensorsAfterCollecting();
            };
            Assert.Equal(replicas, session.Execute().Replicas);
        }
        // A leak adds tensors every step (at least 8 between the two counts); garbage of earlier tests that is
        // finalized late (a module's finalizer frees its tensors only in a later round) can only lower the count.
        Assert.True(live[16] <= live[8], $"live tensors grew from {live[8]} at step 8 to {live[16]} at step 16");
    }

    /// <summary>The live count once undisposed tensors (of this and earlier tests) are finalized: a finalizer can free
    /// objects whose own finalizers run only in the next round, so collect until the count settles.</summary>
    static long TensorsAfterCollecting()
    {
        long before;
        var count = Tensor.TotalCount;
        do
        {
            before = count;
            GC.Collect();
            GC.WaitForPendingFinalizers();
            count = Tensor.TotalCount;
        }
        while (count != before);
        return count;
    }

    [Fact]
    public void TheCHeapCanBeTrimmedOnLinux()
    {
        Assert.Equal(OperatingSystem.IsLinux(), NativeHeap.Trim());
    }
}
