using FewShot.Model.Storage;
using FewShot.Training.Checkpoints;
using FewShot.Training.Recipes;
using FewShot.Training.Runs;
using static TorchSharp.torch;

namespace FewShot.Training.Tests;

public class TrainingRunTests
{
    internal static TrainingRecipe SmallRecipe(int iters = 40, double dropout = 0.1) => new()
    {
        Layers = 2, Heads = 2, Embedding = 32, ContextLength = 32, MicroBatch = 8, Iterations = iters, LearningRate = 3e-3,
        WarmupIterations = 5, Dropout = dropout, Tokenizer = "char", EvalInterval = 20, EvalBatches = 4, SampleTokens = 20,
        CheckpointInterval = 10, KeepCheckpoints = 2, LogInterval = 5, Threads = 1,
    };

    internal static string SmallText(string folder)
    {
        var path = Path.Combine(folder, "text.txt");
        File.WriteAllText(path, File.ReadAllText(TestPaths.Shakespeare)[..120_000]);
        return path;
    }

    static TrainingSummary Train(TrainingRequest request, List<string>? messages = null)
    {
        using var session = TrainingSession.Prepare(request, m => messages?.Add(m));
        return session.Execute();
    }

    [Fact]
    public void ShortRunLowersTheLossAndWritesAModelFolderMetricsAndPlots()
    {
        using var temp = new TempFolder();
        var run = Path.Combine(temp.Path, "run");
        var summary = Train(new TrainingRequest(SmallRecipe(iters: 60, dropout: 0), SmallText(temp.Path), OutFolder: run));

        var metrics = Metrics.MetricsLog.Read(Path.Combine(run, "metrics.jsonl"));
        var firstTrain = metrics.First(m => (string?)m["type"] == "train")["loss"]!.GetValue<double>();
        Assert.True(firstTrain > 3.0, $"first logged loss {firstTrain}"); // ~ln(vocab) at the start
        Assert.True(summary.Result.ValidationLoss < Math.Min(3.3, firstTrain - 0.7), $"validation loss {summary.Result.ValidationLoss} after 60 steps (first {firstTrain})");
        Assert.Equal(3, metrics.Count(m => (string?)m["type"] == "eval")); // steps 20, 40, 60
        var lastEval = metrics.Last(m => (string?)m["type"] == "eval");
        Assert.False(string.IsNullOrEmpty((string?)lastEval["sample"]));
        // Tokens late in the window, with context to read, are predicted better than the first ones: a positive in-context gain.
        var (early, late) = (lastEval["val_loss_early"]!.GetValue<double>(), lastEval["val_loss_late"]!.GetValue<double>());
        Assert.True(early > late, $"early-context loss {early}, late {late}");
        Assert.Equal(early - late, lastEval["in_context_gain"]!.GetValue<double>(), 1e-5);
        foreach (var png in new[] { "loss.png", "lr.png", "throughput.png" })
            Assert.Equal((byte)0x89, File.ReadAllBytes(Path.Combine(run, "plots", png))[0]);

        using var loaded = ModelFolder.Load(summary.ModelFolder);
        Assert.Equal(2, loaded.Model.Config.Layers);
        Assert.Equal("char", loaded.Tokenizer.Name);
        Assert.Equal(2, new CheckpointStore(Path.Combine(run, "checkpoints"), 2).List().Count(c => c.Step % 10 == 0 && c.Step >= 50) );
    }

    [Theory]
    [InlineData(0.1)] // dropout: one replica, libtorch's RNG state restored from the checkpoint
    [InlineData(0.0)] // no dropout: two replicas on two threads
    public void ResumedRunEndsWithTheSameWeightsAsAnUninterruptedOne(double dropout)
    {
        using var temp = new TempFolder();
        var text = SmallText(temp.Path);
        TrainingRecipe Recipe() => SmallRecipe(iters: 40, dropout: dropout);
        var whole = Train(new TrainingRequest(Recipe(), text, OutFolder: Path.Combine(temp.Path, "whole")));
        Assert.Equal(dropout == 0 ? 2 : 1, whole.Replicas);

        // Stop the same recipe after step 23 (as Ctrl+C would: it checkpoints where it stands), then resume to 40.
        var split = Path.Combine(temp.Path, "split");
        using (var session = TrainingSession.Prepare(new TrainingRequest(Recipe(), text, OutFolder: split), _ => { }))
        {
            using var stop = new CancellationTokenSource();
            session.Trainer.StepCompleted += r => { if (r.Step == 23) stop.Cancel(); };
            Assert.True(session.Execute(stop.Token).Result.Cancelled);
        }
        var messages = new List<string>();
        var resumed = Train(new TrainingRequest(Recipe(), ResumeFolder: split), messages);
        Assert.Contains(messages, m => m.Contains("resumed from step 23"));

        Assert.Equal(File.ReadAllBytes(Path.Combine(whole.ModelFolder, "model.safetensors")), File.ReadAllBytes(Path.Combine(resumed.ModelFolder, "model.safetensors")));
        Assert.Equal(whole.Result.ValidationLoss, resumed.Result.ValidationLoss);
    }

    [Fact]
    public void CorruptOrTruncatedNewestCheckpointFallsBackToThePreviousGoodOne()
    {
        using var temp = new TempFolder();
        var run = Path.Combine(temp.Path, "run");
        Train(new TrainingRequest(SmallRecipe(iters: 30), SmallText(temp.Path), OutFolder: run));
        var checkpoints = Path.Combine(run, "checkpoints");
        var store = new CheckpointStore(checkpoints, 5);
        Assert.Equal([20L, 30L], store.List().Select(c => c.Step)); // keep 2 (the best, step 20 or 30, is among them)

        // Flip one byte in the newest tensor file: the checksum catches it.
        var newest = Path.Combine(checkpoints, "step-00000030.safetensors");
        var bytes = File.ReadAllBytes(newest);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(newest, bytes);
        var messages = new List<string>();
        var found = store.LoadLatestGood(messages.Add);
        Assert.Equal(20, found!.Value.Info.Step);
        Assert.Contains(messages, m => m.Contains("step-00000030.safetensors") && m.Contains("checksum"));
        foreach (var t in found.Value.Tensors.Values) t.Dispose();

        // Truncate the previous one too: nothing good is left, and resuming says so and starts over.
        var older = Path.Combine(checkpoints, "step-00000020.safetensors");
        File.WriteAllBytes(older, File.ReadAllBytes(older)[..1000]);
        messages.Clear();
        Assert.Null(store.LoadLatestGood(messages.Add));
        Assert.Contains(messages, m => m.Contains("truncated"));

        // A recipe with a different model shape cannot resume this run.
        File.WriteAllBytes(newest, bytes.Select((b, i) => i == bytes.Length / 2 ? (byte)(b ^ 0x40) : b).ToArray()); // repair step 30
        var other = SmallRecipe(iters: 40);
        other.Embedding = 64;
        var e = Assert.Throws<ArgumentException>(() => TrainingSession.Prepare(new TrainingRequest(other, ResumeFolder: run), _ => { }));
        Assert.Contains("different model or recipe", e.Message);

        // Another thread count is not another recipe: a run may continue on a machine with more cores.
        var moreThreads = SmallRecipe(iters: 40);
        moreThreads.Threads = 2;
        using var resumed = TrainingSession.Prepare(new TrainingRequest(moreThreads, ResumeFolder: run), _ => { });
        Assert.True(resumed.Resumed);
    }

    [Fact]
    public void TwoReplicasComputeTheSameStepsAsOne()
    {
        using var temp = new TempFolder();
        var text = SmallText(temp.Path);
        var one = SmallRecipe(iters: 30, dropout: 0);
        one.Replicas = 1;
        var two = SmallRecipe(iters: 30, dropout: 0);
        two.Replicas = 2;
        var a = Train(new TrainingRequest(one, text, OutFolder: Path.Combine(temp.Path, "one")));
        var b = Train(new TrainingRequest(two, text, OutFolder: Path.Combine(temp.Path, "two")));
        Assert.Equal((1, 2), (a.Replicas, b.Replicas));
        // Same batches, same gradients up to float summation order.
        Assert.Equal(a.Result.ValidationLoss, b.Result.ValidationLoss, 4);
        Assert.Equal(a.Result.FinalTrainLoss, b.Result.FinalTrainLoss, 4);
        var bad = SmallRecipe(dropout: 0.1);
        bad.Replicas = 2;
        Assert.Contains("dropout", Assert.Throws<ArgumentException>(() => bad.Validate()).Message);
    }

    [Fact]
    public void MixedPrecisionTrainsAsFloat32DoesWhereTheCpuHasBFloat16()
    {
        using var temp = new TempFolder();
        var text = SmallText(temp.Path);
        var mixed = SmallRecipe(iters: 40, dropout: 0);
        mixed.Precision = "bf16";
        if (!FewShot.Model.MatrixPrecisions.CpuHasBFloat16)
        {
            Assert.Contains("AVX512-BF16", Assert.Throws<ArgumentException>(() => mixed.Validate()).Message);
            return;
        }
        var a = Train(new TrainingRequest(SmallRecipe(iters: 40, dropout: 0), text, OutFolder: Path.Combine(temp.Path, "fp32")));
        var b = Train(new TrainingRequest(mixed, text, OutFolder: Path.Combine(temp.Path, "bf16")));
        Assert.Equal(2, b.Replicas);
        // Other roundings in the products, the same descent: the two runs end apart, by less than their noise.
        Assert.NotEqual(a.Result.ValidationLoss, b.Result.ValidationLoss);
        Assert.InRange(Math.Abs(a.Result.ValidationLoss - b.Result.ValidationLoss), 0, 0.03);
        Assert.True(b.Result.ValidationLoss < 3.3, $"bf16 validation loss {b.Result.ValidationLoss}");
        Assert.Equal("bf16", (string?)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(temp.Path, "bf16", "recipe.json")))!["precision"]);
        // The saved model is float32 and does not carry the setting.
        using var loaded = ModelFolder.Load(b.ModelFolder);
        Assert.Equal(FewShot.Model.MatrixPrecision.Float32, loaded.Model.MatrixPrecision);
        Assert.All(loaded.Model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void StartingFromAModelFolderKeepsItsWeightsAndTokenizer()
    {
        using var temp = new TempFolder();
        var text = SmallText(temp.Path);
        var first = Train(new TrainingRequest(SmallRecipe(iters: 20, dropout: 0), text, OutFolder: Path.Combine(temp.Path, "a")));
        var recipe = SmallRecipe(iters: 1, dropout: 0);
        recipe.LearningRate = 1e-12; // one step that barely moves: the run starts where the first one ended
        recipe.MinLearningRate = 1e-12;
        var tuned = Train(new TrainingRequest(recipe, text, OutFolder: Path.Combine(temp.Path, "b"), InitModel: first.ModelFolder));
        Assert.Equal(first.Result.ValidationLoss, tuned.Result.ValidationLoss, 3);
    }
}
