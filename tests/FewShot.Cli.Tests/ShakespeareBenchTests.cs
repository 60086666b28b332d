namespace FewShot.Cli.Tests;

/// <summary>
/// fewshot bench shakespeare against the real PyTorch loop (Debian's python3-torch, which ./test installs), with few
/// steps: the two programs run, each FewShot model is scored by the loop's own code, and the summary is their arithmetic.
/// </summary>
public sealed class ShakespeareBenchTests
{
    [Fact]
    public void PairsFewShotWithThePyTorchLoopAndScoresOnTheLoopsWindows()
    {
        // The recipe's mixed precision where this CPU has AVX512-BF16 (the bench refuses it elsewhere), else float32.
        var precision = FewShot.Model.MatrixPrecisions.CpuHasBFloat16 ? "bf16" : "fp32";
        var result = Cli.Run("bench", "shakespeare", "--text", TestEnvironment.Shakespeare, "--iters", "4", "--eval-batches", "4", "--seeds", "1,2",
            "--precision", precision, "--peer", "pytorch", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var json = result.Json;
        Assert.Equal(precision, json.GetProperty("precision").GetString());
        Assert.Equal("pytorch", json.GetProperty("peer").GetString());
        Assert.False(string.IsNullOrEmpty(json.GetProperty("peer_version").GetString()));

        var pairs = json.GetProperty("pairs").EnumerateArray().ToList();
        Assert.Equal([1L, 2L], pairs.Select(p => p.GetProperty("seed").GetInt64()));
        var uniform = Math.Log(66);
        foreach (var pair in pairs)
        {
            double Get(string name) => pair.GetProperty(name).GetDouble();
            // Four steps from a random start: every loss is below the uniform guess over the alphabet, and not yet trained.
            foreach (var loss in new[] { "val_loss", "val_loss_peer_protocol", "peer_val_loss" })
                Assert.InRange(Get(loss), 3, uniform);
            // The same FewShot model on two samples of the same validation text (its own is 4 batches here).
            Assert.InRange(Math.Abs(Get("val_loss") - Get("val_loss_peer_protocol")), 0, 0.1);
            Assert.InRange(Get("eval_seconds"), 0.01, Get("train_seconds"));
            Assert.InRange(Get("train_seconds"), 0.01, Get("seconds"));
            Assert.InRange(Get("peer_train_seconds"), 0.01, Get("peer_seconds"));
            AssertClose(Get("train_seconds") / Get("peer_train_seconds"), Get("ratio"));
            AssertClose((Get("train_seconds") - Get("eval_seconds")) / Get("peer_train_seconds"), Get("ratio_steps"));
            AssertClose(Get("seconds") / Get("peer_seconds"), Get("ratio_wall"));
        }

        // Two seeds: means and standard errors, and the loss goal's difference in the loop's standard errors.
        var ours = pairs.Select(p => p.GetProperty("val_loss_peer_protocol").GetDouble()).ToList();
        var theirs = pairs.Select(p => p.GetProperty("peer_val_loss").GetDouble()).ToList();
        Assert.Equal(ours.Average(), json.GetProperty("val_loss_peer_protocol").GetProperty("mean").GetDouble(), 3);
        Assert.Equal(Math.Abs(theirs[0] - theirs[1]) / 2, json.GetProperty("peer_val_loss").GetProperty("standard_error").GetDouble(), 3);
        Assert.Equal(ours.Average() - theirs.Average(), json.GetProperty("loss_difference").GetDouble(), 3);

        // GPT-2's initialisation on both sides: both programs draw other weights at the same seed.
        var gpt2 = Cli.Run("bench", "shakespeare", "--text", TestEnvironment.Shakespeare, "--iters", "4", "--eval-batches", "4", "--seeds", "1",
            "--precision", precision, "--weight-init", "gpt2", "--peer", "pytorch", "--json");
        Assert.True(gpt2.ExitCode == 0, gpt2.ToString());
        Assert.Equal("gpt2", gpt2.Json.GetProperty("weight_init").GetString());
        var other = gpt2.Json.GetProperty("pairs")[0];
        Assert.NotEqual(pairs[0].GetProperty("peer_val_loss").GetDouble(), other.GetProperty("peer_val_loss").GetDouble());
        Assert.NotEqual(pairs[0].GetProperty("val_loss").GetDouble(), other.GetProperty("val_loss").GetDouble());
    }

    /// <summary>Within 2%: the pair's seconds are printed rounded to 10 ms.</summary>
    static void AssertClose(double expected, double actual) => Assert.InRange(Math.Abs(actual - expected) / expected, 0, 0.02);

    [Fact]
    public void APythonWithoutTorchIsOneLineNamingTheOption()
    {
        var result = Cli.Run("bench", "shakespeare", "--text", TestEnvironment.Shakespeare, "--peer", "pytorch", "--python", "/nonexistent/python3");
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--python /nonexistent/python3", line);
    }
}
