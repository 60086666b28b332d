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
                GC.Collect();
                GC.WaitForPendingFinalizers(); // undisposed tensors of earlier tests leave the count here, not mid-test
                GC.Collect();
                live[r.Step] = Tensor.TotalCount;
            };
            Assert.Equal(replicas, session.Execute().Replicas);
        }
        Assert.Equal(live[8], live[16]);
    }

    [Fact]
    public void TheCHeapCanBeTrimmedOnLinux()
    {
        Assert.Equal(OperatingSystem.IsLinux(), NativeHeap.Trim());
    }
}
