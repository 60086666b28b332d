using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Evaluation.Contamination;
using FewShot.Evaluation.Reports;
using FewShot.Evaluation.Running;
using FewShot.Evaluation.Scoring;
using FewShot.Evaluation.TaskFiles;
using FewShot.Model.Storage;
using FewShot.Training.Runs;
using Spectre.Console;

namespace FewShot.Cli.Commands.Evaluation;

/// <summary>
/// fewshot eval --model DIR --tasks LIST --shots 0,1,10: zero-, one- and few-shot evaluation; prints a task x K table
/// and writes results.json and examples.jsonl to --out. Subcommand: plot (the paper's figures); the scoring benchmark is `fewshot bench eval`.
/// </summary>
public sealed class EvalCommand : CliCommand
{
    readonly Option<string?> model = new("--model") { Description = "Model folder (config.json, model.safetensors, tokenizer.json); or evaluate a served model with --api" };
    readonly ApiModelOptions api = new();
    readonly Option<string> tasks = new("--tasks") { Description = $"Comma-separated task names, task files, or JSONL files of {{\"context\", \"completion\"}} lines (GPT-3's released synthetic tasks); groups: {string.Join(", ", BuiltInTasks.Groups)}", DefaultValueFactory = _ => "synthetic" };
    readonly Option<string?> shots = new("--shots") { Description = "Comma-separated K values, e.g. 0,1,10 (default: 0, 1 and each task's K)" };
    readonly Option<int> seed = new("--seed") { Description = "Seed for drawing demonstrations", DefaultValueFactory = _ => 1234 };
    readonly Option<int?> limit = new("--limit") { Description = "Evaluate only the first N documents of each split" };
    readonly Option<string> output = new("--out") { Description = "Folder for results.json, examples.jsonl and the result cache", DefaultValueFactory = _ => Path.Combine("runs", "eval") };
    readonly Option<string> descriptions = new("--descriptions") { Description = "with | without | both: the task description before the examples", DefaultValueFactory = _ => "with" };
    readonly Option<string?> decoding = new("--decoding") { Description = "greedy | beam: override generate_until tasks' decoding" };
    readonly Option<string?> contamination = new("--contamination") { Description = "Prepared data folder (fewshot data prepare): flag examples sharing a 13-gram with its training split and report the clean subset" };
    readonly Option<bool> finetune = new("--finetune") { Description = "Also fine-tune a copy of the model on each K > 0 demonstrations and report it beside in-context learning" };
    readonly Option<int> finetuneSteps = new("--finetune-steps") { Description = "AdamW steps of --finetune", DefaultValueFactory = _ => 8 };
    readonly Option<double> finetuneRate = new("--finetune-lr") { Description = "Learning rate of --finetune", DefaultValueFactory = _ => 1e-4 };
    readonly Option<int> batch = new("--batch-size") { Description = "Requests per forward pass", DefaultValueFactory = _ => 16 };
    readonly Option<string> device = CommonOptions.Device();
    readonly Option<int> threads = CommonOptions.Threads();

    public EvalCommand() : base("eval", "Zero-, one- and few-shot evaluation on GPT-3's tasks and your own")
    {
        foreach (var o in new Option[] { model, tasks, shots, seed, limit, output, descriptions, decoding, contamination, finetune, finetuneSteps, finetuneRate, batch, device, threads }.Concat(api.All))
            Options.Add(o);
        Subcommands.Add(new EvalPlotCommand());
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var shotList = ParseShots(parse.GetValue(shots));
        var mode = parse.GetValue(descriptions)!.ToLowerInvariant() switch
        {
            "with" => DescriptionMode.With,
            "without" => DescriptionMode.Without,
            "both" => DescriptionMode.Both,
            var other => throw new ArgumentException($"--descriptions must be with, without or both, got '{other}'"),
        };
        var decode = parse.GetValue(decoding);
        if (decode is not null and not ("greedy" or "beam")) throw new ArgumentException($"--decoding must be greedy or beam, got '{decode}'");
        if (parse.GetValue(limit) is < 1) throw new ArgumentException("--limit must be at least 1");
        if (parse.GetValue(batch) < 1) throw new ArgumentException("--batch-size must be at least 1");
        var outFolder = parse.GetValue(output)!;
        var folder = parse.GetValue(model);
        var served = parse.GetValue(api.Url) is not null;
        if (folder is null == !served) throw new ArgumentException("give either --model (a model folder) or --api (a served model), not both");
        if (served)
        {
            api.Validate(parse);
            if (parse.GetValue(finetune)) throw new ArgumentException("--finetune needs the model in-process; it cannot be used with --api");
        }

        // Tasks first: a bad task file should not wait for a model to load.
        var configs = parse.GetValue(tasks)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .SelectMany(BuiltInTasks.Resolve).DistinctBy(c => c.Name).ToList();
        if (configs.Count == 0) throw new ArgumentException("--tasks names no task");
        var evalTasks = configs.Select(EvalTask.Load).ToList();
        if (served && decode is null && configs.FirstOrDefault(c => c.Decoding == "beam" && c.OutputType == OutputType.GenerateUntil) is { } beam)
            throw new ArgumentException($"task '{beam.Name}' decodes with beam search, which needs the model in-process; with --api add --decoding greedy");

        var cachePath = Path.Combine(outFolder, "cache.json");
        using var loaded = served ? null : ModelFolder.Load(folder!, CommonOptions.ResolveDevice(parse.GetValue(device)!, parse.GetValue(threads)));
        var (lm, client) = served ? await api.CreateAsync(parse, ResultCache.Load(cachePath), cancel) : (new LanguageModel(loaded!.Model, loaded.Tokenizer, FileHash(Path.Combine(folder!, ModelFolder.WeightsFile)))
        {
            Name = ModelName(folder!),
            BatchSize = parse.GetValue(batch),
            Cache = ResultCache.Load(cachePath),
        }, null);
        using var _ = client;
        var options = new EvalOptions
        {
            Shots = shotList,
            Seed = parse.GetValue(seed),
            Limit = parse.GetValue(limit),
            Descriptions = mode,
            Decoding = decode,
            Contamination = parse.GetValue(contamination) is { } data ? PreparedDataChecker.Open(data) : null,
            FineTune = parse.GetValue(finetune) ? new FineTuner.Settings(parse.GetValue(finetuneSteps), parse.GetValue(finetuneRate)) : null,
        };

        EvalReport report = null!;
        await context.Progress().StartAsync(async progress =>
        {
            var bars = new Dictionary<string, ProgressTask>();
            var reporting = options with
            {
                OnProgress = (label, done, total) =>
                {
                    lock (bars)
                    {
                        if (!bars.TryGetValue(label, out var bar)) bars[label] = bar = progress.AddTask(Markup.Escape(label), maxValue: Math.Max(1, total));
                        bar.Value = done;
                        if (done >= total) bar.StopTask();
                    }
                    cancel.ThrowIfCancellationRequested();
                },
            };
            // One thread for all model work: TorchSharp's dispose scopes are per thread.
            report = await Task.Factory.StartNew(() => new EvalRunner(lm, reporting).Run(evalTasks), cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        });

        var (resultsPath, examplesPath) = ResultsFile.Write(report, outFolder);
        lm.Cache.Save(cachePath);
        if (context.Json)
        {
            var json = JsonSerializer.SerializeToNode(ResultsFile.Read(resultsPath), ResultsFile.Json)!.AsObject();
            json["results_file"] = resultsPath;
            json["examples_file"] = examplesPath;
            context.WriteJson(json);
            return ExitCodes.Success;
        }
        EvalTable.Write(context, report);
        context.Info($"results: {resultsPath}; examples: {examplesPath}; cache hits {lm.Cache.Hits}");
        return ExitCodes.Success;
    }

    static IReadOnlyList<int>? ParseShots(string? text)
    {
        if (text is null) return null;
        var values = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, out var k) && k >= 0 ? k : throw new ArgumentException($"--shots: '{s}' is not a number of examples (0 or more)"))
            .Distinct().Order().ToArray();
        return values.Length > 0 ? values : throw new ArgumentException("--shots is empty");
    }

    static string FileHash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream))[..16];
    }

    /// <summary>The model folder's name, or for a training run's model folder (runs/NAME/model) the run's name.</summary>
    static string ModelName(string folder)
    {
        var full = new DirectoryInfo(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar));
        return full.Parent is { } parent && new RunFolder(parent.FullName) is { Exists: true } run && run.Model == full.FullName ? parent.Name : full.Name;
    }
}
