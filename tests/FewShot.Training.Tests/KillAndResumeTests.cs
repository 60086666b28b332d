using System.Diagnostics;

namespace FewShot.Training.Tests;

/// <summary>
/// The real program, killed with SIGKILL mid-run and resumed, ends with the same weights as an uninterrupted run; stopped
/// with SIGINT (Ctrl+C), it checkpoints the step it stopped at.
/// </summary>
public class KillAndResumeTests
{
    static readonly string[] Recipe =
    [
        "train", "--tokenizer", "char", "--layers", "2", "--heads", "2", "--embd", "32", "--ctx", "32", "--batch", "8", "--iters", "400",
        "--lr", "3e-3", "--warmup-iters", "10", "--dropout", "0.1", "--eval-interval", "200", "--eval-batches", "4", "--sample-tokens", "0",
        "--checkpoint-interval", "25", "--threads", "1", "--json",
    ];

    static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(TestPaths.CliDll);
        foreach (var a in args) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    static void Finish(Process p)
    {
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(180_000), "training did not finish in 3 minutes");
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {stdout} {stderr.Result}");
        Assert.Contains("\"val_loss\"", stdout);
    }

    [Fact]
    public void KilledTrainingResumesToBitwiseIdenticalWeights()
    {
        Assert.True(File.Exists(TestPaths.CliDll), $"{TestPaths.CliDll} not built");
        using var temp = new TempFolder();
        var text = TrainingRunTests.SmallText(temp.Path);
        var whole = Path.Combine(temp.Path, "whole");
        var killed = Path.Combine(temp.Path, "killed");

        using (var p = Start([.. Recipe, "--text", text, "--out", whole])) Finish(p);

        using (var p = Start([.. Recipe, "--text", text, "--out", killed]))
        {
            // Kill once a mid-run checkpoint exists, while the process is still training.
            var checkpoints = Path.Combine(killed, "checkpoints");
            var watch = Stopwatch.StartNew();
            while (!(Directory.Exists(checkpoints) && Directory.EnumerateFiles(checkpoints, "step-*.json").Any(f => string.CompareOrdinal(Path.GetFileName(f), "step-00000100.json") >= 0)))
            {
                Assert.False(p.HasExited, "the run ended before it could be killed");
                Assert.True(watch.Elapsed < TimeSpan.FromMinutes(3), "no checkpoint appeared");
                Thread.Sleep(20);
            }
            p.Kill(); // SIGKILL
            p.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(killed, "model", "config.json")), "the killed run had already finished");

        using (var p = Start("train", "--resume", killed, "--json")) Finish(p);

        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "model", "model.safetensors")), File.ReadAllBytes(Path.Combine(killed, "model", "model.safetensors")));
        // metrics.jsonl of the resumed run has no duplicated steps.
        var steps = Metrics.MetricsLog.Read(Path.Combine(killed, "metrics.jsonl")).Where(m => (string?)m["type"] == "train").Select(m => m["step"]!.GetValue<long>()).ToList();
        Assert.Equal(steps.Distinct().Count(), steps.Count);
        Assert.Equal(400, steps.Max());
    }

    [Fact]
    public async Task InterruptedTrainingCheckpointsWhereItStopped()
    {
        Assert.True(File.Exists(TestPaths.CliDll), $"{TestPaths.CliDll} not built");
        using var temp = new TempFolder();
        var text = TrainingRunTests.SmallText(temp.Path);
        var run = Path.Combine(temp.Path, "run");
        // No periodic checkpoints: the only one can come from the stop.
        string[] args = [.. Recipe, "--text", text, "--out", run];
        args[Array.IndexOf(args, "--iters") + 1] = "100000";
        args[Array.IndexOf(args, "--checkpoint-interval") + 1] = "1000000";
        using var p = Start(args);
        var stderr = p.StandardError.ReadToEndAsync();
        var stdoutTask = p.StandardOutput.ReadToEndAsync();
        var metrics = Path.Combine(run, "metrics.jsonl");
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!(File.Exists(metrics) && File.ReadAllText(metrics).Contains("\"train\"")))
        {
            if (p.HasExited) Assert.Fail($"training ended before it could be interrupted: {await stderr}");
            Assert.True(DateTime.UtcNow < deadline, "no training step was logged in 2 minutes");
            await Task.Delay(100);
        }

        using (var kill = Process.Start("kill", ["-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60)); // training did not stop within 60 s of SIGINT
        var stdout = await stdoutTask;
        Assert.True(p.ExitCode == 130, $"exit {p.ExitCode}: {stdout} {await stderr}");
        var result = System.Text.Json.Nodes.JsonNode.Parse(stdout)!;
        Assert.True((bool)result["stopped"]!);
        var steps = (long)result["steps"]!;
        Assert.InRange(steps, 10, 99_999);
        Assert.True(File.Exists(Path.Combine(run, "checkpoints", $"step-{steps:D8}.safetensors")), $"no checkpoint at step {steps}");
    }
}
