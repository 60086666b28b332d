using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using FewShot.Benchmarks;
using FewShot.Cli.Infrastructure;
using FewShot.Training.Recipes;

namespace FewShot.Cli.Commands.Bench;

/// <summary>
/// fewshot bench shakespeare --text FILE --peer pytorch: docs/training.md's Shakespeare recipe against the plain
/// PyTorch loop, alternating, with the time ratios and (over several seeds) the two 5-seed losses of issue 17.
/// </summary>
public sealed class ShakespeareBenchCommand : CliCommand
{
    readonly Option<string> text = new("--text") { Description = "Text to train on (tests/fixtures/tinyshakespeare.txt in the repository)", Required = true };
    readonly Option<int> pairs = new("--pairs") { Description = "Pairs of runs at the default seed", DefaultValueFactory = _ => 3 };
    readonly Option<string?> seeds = new("--seeds") { Description = "One pair per seed instead, e.g. 1,2,3,4,5 (the loss goal's five seeds)" };
    readonly Option<int> iterations = new("--iters") { Description = "Training steps of each run (the recipe: 2000)", DefaultValueFactory = _ => 2000 };
    readonly Option<int> evalBatches = new("--eval-batches") { Description = "FewShot's validation batches per evaluation (the recipe: 200; fewer for a quick check)", DefaultValueFactory = _ => 200 };
    readonly Option<string> weightInit = new("--weight-init") { Description = "Both programs' initialisation: pytorch (the recipe's, the loop's own) or gpt2 (GPT-2's, FewShot's default elsewhere)", DefaultValueFactory = _ => "pytorch" };
    readonly Option<string> precision = new("--precision") { Description = "FewShot's matrix products: bf16 (the recipe; needs AVX512-BF16) or fp32", DefaultValueFactory = _ => "bf16" };
    readonly Option<string?> peer = new("--peer") { Description = "Also run the plain PyTorch loop (Peers/peer_gpt.py) in the same minutes: pytorch" };
    readonly Option<string> python = new("--python") { Description = "The Python that has PyTorch", DefaultValueFactory = _ => "/usr/bin/python3" };

    public ShakespeareBenchCommand() : base("shakespeare", "Time docs/training.md's Shakespeare recipe against a plain PyTorch loop, alternating")
    {
        foreach (var o in new Option[] { text, pairs, seeds, iterations, evalBatches, weightInit, precision, peer, python }) Options.Add(o);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var textFile = Path.GetFullPath(parse.GetValue(text)!);
        if (!File.Exists(textFile)) throw new FileNotFoundException($"--text {parse.GetValue(text)}: file not found");
        var iters = parse.GetValue(iterations);
        if (iters < 1) throw new ArgumentException($"--iters must be at least 1, got {iters}");
        var batches = parse.GetValue(evalBatches);
        if (batches < 1) throw new ArgumentException($"--eval-batches must be at least 1, got {batches}");
        var init = parse.GetValue(weightInit)!;
        if (init is not ("gpt2" or "pytorch")) throw new ArgumentException($"--weight-init: unknown initialisation '{init}' (expected gpt2 or pytorch)");
        var products = parse.GetValue(precision)!;
        new TrainingRecipe { Precision = products }.Validate(); // the recipe's own checks (a known name, a CPU that has it), before any run
        var peerName = parse.GetValue(peer);
        if (peerName is not (null or "pytorch")) throw new ArgumentException($"--peer: unknown peer '{peerName}' (expected pytorch)");
        var seedList = ParseSeeds(parse.GetValue(seeds), parse.GetValue(pairs));
        var pythonPath = peerName is null ? null : parse.GetValue(python)!;
        var peerVersion = pythonPath is null ? null : ShakespeareBenchmark.PeerVersion(pythonPath);

        var settings = new ShakespeareBenchmark.Settings(textFile, seedList, iters, init, pythonPath, batches, products);
        var folder = Directory.CreateTempSubdirectory("fewshot-bench-shakespeare-").FullName;
        List<ShakespeareBenchmark.Pair> measured = null!;
        try
        {
            // On a worker thread, so that the command line sees a started action and Ctrl+C cancels it (stopping the
            // running child process) rather than ending this process and leaving the child behind.
            await Task.Factory.StartNew(() => context.Progress().Start(p =>
            {
                var runs = seedList.Count * (pythonPath is null ? 1 : 2);
                var task = p.AddTask($"runs of {iters} steps (FewShot{(pythonPath is null ? "" : " and PyTorch, alternating")})", maxValue: runs);
                measured = ShakespeareBenchmark.Run(settings, SelfProcess, folder, () => task.Increment(1), cancel);
            }), cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }

        var json = ShakespeareBenchmark.Summary(measured);
        json.Insert(0, "benchmark", "shakespeare");
        json.Insert(1, "iters", iters);
        json.Insert(2, "eval_batches", batches);
        json.Insert(3, "weight_init", init);
        json.Insert(4, "precision", products);
        json.Insert(5, "peer", peerName);
        json.Insert(6, "peer_version", peerVersion);
        BenchOutput.Write(context, json, "pairs");
        return ExitCodes.Success;
    }

    /// <summary>"1,2,3" as seeds; without it, <paramref name="pairs"/> runs at the programs' default seeds.</summary>
    static List<long?> ParseSeeds(string? list, int pairs)
    {
        if (list is null)
        {
            if (pairs < 1) throw new ArgumentException($"--pairs must be at least 1, got {pairs}");
            return [.. Enumerable.Repeat<long?>(null, pairs)];
        }
        return [.. list.Split(',', StringSplitOptions.TrimEntries).Select(s => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed)
            ? (long?)seed : throw new ArgumentException($"--seeds: '{s}' is not a whole number (expected a list such as 1,2,3,4,5)"))];
    }

    /// <summary>This fewshot, as a new process: its apphost when it runs as one, else dotnet with this build's fewshot.dll.</summary>
    static ProcessStartInfo SelfProcess(IEnumerable<string> arguments)
    {
        var host = Environment.ProcessPath;
        var name = host is null ? null : Path.GetFileNameWithoutExtension(host);
        var start = new ProcessStartInfo(name == "fewshot" ? host! : name == "dotnet" ? host! : "dotnet");
        if (name != "fewshot") start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "fewshot.dll"));
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        return start;
    }
}
