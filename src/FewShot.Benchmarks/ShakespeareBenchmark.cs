using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace FewShot.Benchmarks;

/// <summary>
/// nanoGPT's CPU recipe for character-level Shakespeare (docs/training.md's command) through <c>fewshot train</c>, each
/// run next to the plain PyTorch loop of the same recipe (Peers/peer_gpt.py, one thread) in the same minutes. Both are
/// separate processes, run in alternating order (FewShot first in odd pairs, the loop first in even ones) so that a
/// machine growing busier or quieter weighs on both. Each FewShot model is also scored by the loop's own validation
/// code and windows (Peers/peer_score.py), so that the two losses differ only by the training.
/// </summary>
public static class ShakespeareBenchmark
{
    /// <param name="Text">The text to train on (the first 90% of its characters train, the last 10% validate).</param>
    /// <param name="Seeds">One pair per entry; null: the programs' default seeds.</param>
    /// <param name="Python">The Python with PyTorch that runs the loop; null: FewShot only.</param>
    /// <param name="EvalBatches">FewShot's validation batches per evaluation (the recipe's default: 200).</param>
    /// <param name="WeightInit">Both programs' initialisation: pytorch (the recipe's, the loop's own) or gpt2.</param>
    /// <param name="Precision">FewShot's matrix products: bf16 (the recipe's) or fp32.</param>
    public sealed record Settings(string Text, IReadOnlyList<long?> Seeds, int Iterations = 2000, string WeightInit = "pytorch", string? Python = null,
        int EvalBatches = 200, string Precision = "bf16");

    /// <summary>One pair. Seconds are wall-clock of the whole process; the train_seconds are each program's own.</summary>
    /// <param name="TrainSeconds">FewShot's train_seconds: its steps and its evaluations (<paramref name="EvalSeconds"/>).</param>
    /// <param name="PeerTrainSeconds">The loop's train_seconds: its training steps only.</param>
    /// <param name="PeerProtocolValLoss">The FewShot model's loss by the loop's validation code and windows.</param>
    public sealed record Pair(long? Seed, double Seconds, double TrainSeconds, double EvalSeconds, double ValLoss, double? PeerProtocolValLoss,
        double? PeerSeconds, double? PeerTrainSeconds, double? PeerValLoss)
    {
        /// <summary>FewShot's train_seconds over the loop's: the must-show ratio (issue 17: at most 0.5).</summary>
        public double? Ratio => TrainSeconds / PeerTrainSeconds;

        /// <summary>Training steps against training steps: FewShot's train_seconds less its evaluations.</summary>
        public double? StepsRatio => (TrainSeconds - EvalSeconds) / PeerTrainSeconds;

        /// <summary>Whole process against whole process: start-up, data, training, evaluations and saving on both sides.</summary>
        public double? WallRatio => Seconds / PeerSeconds;
    }

    /// <summary>The recipe's flags after --text: nanoGPT's CPU Shakespeare settings.</summary>
    public static IEnumerable<string> RecipeArguments(int iterations) =>
    [
        "--tokenizer", "char", "--layers", "4", "--heads", "4", "--embd", "128", "--ctx", "64", "--batch", "12",
        "--iters", iterations.ToString(CultureInfo.InvariantCulture), "--lr", "1e-3", "--min-lr", "1e-4",
        "--warmup-iters", "100", "--beta2", "0.99", "--dropout", "0",
    ];

    static string PeerScript(string name) => Path.Combine(AppContext.BaseDirectory, "Peers", name);

    /// <summary>The PyTorch version <paramref name="python"/> imports; an ArgumentException naming --python when it cannot.</summary>
    public static string PeerVersion(string python)
    {
        var start = new ProcessStartInfo(python) { ArgumentList = { "-c", "import torch; print(torch.__version__)" } };
        try
        {
            return Run(start, "python").Stdout.Trim();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or ChildProcessException)
        {
            throw new ArgumentException($"--python {python}: cannot import torch ({Brief(e.Message)}); install Debian's python3-torch or name a Python that has PyTorch");
        }
    }

    /// <summary>
    /// Runs the pairs. <paramref name="fewshot"/> makes the start info of a fewshot process with the given arguments;
    /// runs go under <paramref name="folder"/>, each removed once measured. <paramref name="finished"/> is called as each
    /// process of a pair ends.
    /// </summary>
    public static List<Pair> Run(Settings settings, Func<IEnumerable<string>, ProcessStartInfo> fewshot, string folder, Action? finished = null,
        CancellationToken cancel = default)
    {
        var pairs = new List<Pair>();
        for (var i = 0; i < settings.Seeds.Count; i++)
        {
            var seed = settings.Seeds[i];
            (double Seconds, double TrainSeconds, double ValLoss)? peer = null;
            if (settings.Python is not null && i % 2 == 1) { peer = RunPeer(settings, seed, cancel); finished?.Invoke(); }
            var ours = RunFewShot(settings, seed, fewshot, Path.Combine(folder, $"run-{i + 1}"), cancel);
            finished?.Invoke();
            if (settings.Python is not null && i % 2 == 0) { peer = RunPeer(settings, seed, cancel); finished?.Invoke(); }
            pairs.Add(new Pair(seed, ours.Seconds, ours.TrainSeconds, ours.EvalSeconds, ours.ValLoss, ours.PeerProtocolValLoss,
                peer?.Seconds, peer?.TrainSeconds, peer?.ValLoss));
        }
        return pairs;
    }

    static (double Seconds, double TrainSeconds, double EvalSeconds, double ValLoss, double? PeerProtocolValLoss) RunFewShot(
        Settings settings, long? seed, Func<IEnumerable<string>, ProcessStartInfo> fewshot, string runFolder, CancellationToken cancel)
    {
        string[] arguments =
        [
            "train", "--text", settings.Text, .. RecipeArguments(settings.Iterations), "--precision", settings.Precision, "--weight-init", settings.WeightInit,
            "--eval-batches", settings.EvalBatches.ToString(CultureInfo.InvariantCulture),
            .. seed is { } s ? new[] { "--seed", s.ToString(CultureInfo.InvariantCulture) } : [], "--out", runFolder, "--json",
        ];
        try
        {
            var (stdout, seconds) = Run(fewshot(arguments), "fewshot train", cancel);
            var result = JsonNode.Parse(stdout)!;
            var runDir = (string)result["run_dir"]!;
            // Every evaluation's time, from the run's metrics (one JSON object a line; evaluations carry eval_s).
            var evalSeconds = File.ReadLines(Path.Combine(runDir, "metrics.jsonl"))
                .Select(line => JsonNode.Parse(line)?["eval_s"]).Where(v => v is not null).Sum(v => (double)v!);
            double? peerProtocol = settings.Python is null ? null
                : Number(Run(new ProcessStartInfo(settings.Python) { ArgumentList = { PeerScript("peer_score.py"), "--text", settings.Text, "--model", (string)result["model_dir"]! } },
                    "peer_score.py", cancel).Stdout, "val_loss");
            return (seconds, (double)result["train_seconds"]!, evalSeconds, (double)result["val_loss"]!, peerProtocol);
        }
        finally
        {
            if (Directory.Exists(runFolder)) Directory.Delete(runFolder, recursive: true); // ~190 MB of checkpoints a run
        }
    }

    static (double Seconds, double TrainSeconds, double ValLoss) RunPeer(Settings settings, long? seed, CancellationToken cancel)
    {
        var start = new ProcessStartInfo(settings.Python!)
        {
            ArgumentList =
            {
                PeerScript("peer_gpt.py"), "shakespeare", "--threads", "1", "--text", settings.Text,
                "--iters", settings.Iterations.ToString(CultureInfo.InvariantCulture), "--init", settings.WeightInit,
            },
        };
        if (seed is { } s) { start.ArgumentList.Add("--seed"); start.ArgumentList.Add(s.ToString(CultureInfo.InvariantCulture)); }
        var (stdout, seconds) = Run(start, "peer_gpt.py shakespeare", cancel);
        return (seconds, Number(stdout, "train_seconds"), Number(stdout, "val_loss"));
    }

    static double Number(string json, string field) =>
        (double?)JsonNode.Parse(json)?[field] ?? throw new InvalidDataException($"the peer printed no '{field}': {Brief(json)}");

    /// <summary>
    /// Runs a process to its end: its stdout and wall-clock seconds, or a <see cref="ChildProcessException"/> with its
    /// last error line. Cancelling kills it (and what it started) and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    static (string Stdout, double Seconds) Run(ProcessStartInfo start, string what, CancellationToken cancel = default)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        using var kill = cancel.Register(() => { try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } });
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var seconds = clock.Elapsed.TotalSeconds;
        cancel.ThrowIfCancellationRequested();
        if (process.ExitCode != 0)
            throw new ChildProcessException($"{what} exited with {process.ExitCode}: {Brief(stderr.Result)}");
        return (stdout, seconds);
    }

    /// <summary>The last non-empty line of a program's output: where Python and fewshot put the error.</summary>
    static string Brief(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no output";

    /// <summary>The summary over the pairs: ratios (median and best), losses over distinct seeds (mean and standard error).</summary>
    public static JsonObject Summary(IReadOnlyList<Pair> pairs)
    {
        JsonNode? Round(double? value, int digits) => value is { } v ? Math.Round(v, digits) : null;
        JsonObject Ratio(Func<Pair, double?> pick)
        {
            var values = pairs.Select(pick).OfType<double>().ToList();
            return values.Count == 0 ? [] : new JsonObject { ["median"] = Round(Statistics.Median(values), 3), ["min"] = Round(values.Min(), 3) };
        }
        // Losses over distinct seeds only: a seed's runs repeat its loss exactly, and are no sample of its spread.
        var distinct = pairs.DistinctBy(p => p.Seed).ToList();
        JsonObject Loss(Func<Pair, double?> pick)
        {
            var values = distinct.Select(pick).OfType<double>().ToList();
            return values.Count == 0 ? [] : new JsonObject { ["mean"] = Round(values.Average(), 4), ["standard_error"] = Round(Statistics.StandardError(values), 4) };
        }
        var json = new JsonObject
        {
            ["ratio"] = Ratio(p => p.Ratio),
            ["ratio_steps"] = Ratio(p => p.StepsRatio),
            ["ratio_wall"] = Ratio(p => p.WallRatio),
            ["val_loss"] = Loss(p => p.ValLoss),
            ["val_loss_peer_protocol"] = Loss(p => p.PeerProtocolValLoss),
            ["peer_val_loss"] = Loss(p => p.PeerValLoss),
        };
        // The loss goal: FewShot's mean, on the loop's windows, against the loop's mean in units of the loop's standard error.
        var ours = distinct.Select(p => p.PeerProtocolValLoss).OfType<double>().ToList();
        var theirs = distinct.Select(p => p.PeerValLoss).OfType<double>().ToList();
        if (ours.Count > 0 && Statistics.StandardError(theirs) is { } se and > 0)
        {
            var difference = ours.Average() - theirs.Average();
            json["loss_difference"] = Round(difference, 4);
            json["loss_difference_in_peer_standard_errors"] = Round(difference / se, 2);
        }
        json["pairs"] = new JsonArray([.. pairs.Select(p => (JsonNode)new JsonObject
        {
            ["seed"] = p.Seed, ["seconds"] = Round(p.Seconds, 2), ["train_seconds"] = Round(p.TrainSeconds, 2), ["eval_seconds"] = Round(p.EvalSeconds, 2),
            ["val_loss"] = Round(p.ValLoss, 4), ["val_loss_peer_protocol"] = Round(p.PeerProtocolValLoss, 4),
            ["peer_seconds"] = Round(p.PeerSeconds, 2), ["peer_train_seconds"] = Round(p.PeerTrainSeconds, 2), ["peer_val_loss"] = Round(p.PeerValLoss, 4),
            ["ratio"] = Round(p.Ratio, 3), ["ratio_steps"] = Round(p.StepsRatio, 3), ["ratio_wall"] = Round(p.WallRatio, 3),
        })]);
        return json;
    }
}

/// <summary>A process the benchmark started failed; the message carries its last error line.</summary>
public sealed class ChildProcessException(string message) : Exception(message);
