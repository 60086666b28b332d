using System.Text.Json.Nodes;
using FewShot.Model;
using FewShot.Model.Storage;
using FewShot.Model.Tokenization;
using FewShot.Training.Checkpoints;
using FewShot.Training.Batches;
using FewShot.Training.Metrics;
using FewShot.Training.Recipes;
using FewShot.Training.Loop;
using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Training.Runs;

/// <summary>What to train: a recipe, a data source, and where the run lives.</summary>
/// <param name="TextFile">--text: one text file (90% train, 10% validation).</param>
/// <param name="DataFolder">--data: a prepared data folder (read through <see cref="PreparedDataSource"/>).</param>
/// <param name="ResumeFolder">--resume: an existing run folder to continue.</param>
/// <param name="InitModel">--init: a model folder whose weights (and tokenizer) start the run.</param>
public sealed record TrainingRequest(TrainingRecipe Recipe, string? TextFile = null, string? DataFolder = null,
    string? OutFolder = null, string? ResumeFolder = null, string? InitModel = null, string RunsRoot = "runs");

/// <summary>The outcome of a finished (or cancelled) session.</summary>
public sealed record TrainingSummary(string RunFolder, string ModelFolder, TrainingResult Result, GptConfig Config, long Parameters, IReadOnlyList<string> Plots, int Replicas);

/// <summary>
/// Sets up and runs one training run end to end: run folder, tokenizer, data, model (fresh, from --init, or from the
/// newest good checkpoint), metrics.jsonl, checkpoints, plots and the final model folder. The caller subscribes to
/// <see cref="Trainer"/>'s events before <see cref="Execute"/> to show progress.
/// </summary>
public sealed class TrainingSession : IDisposable
{
    readonly MetricsLog metrics;

    public RunFolder Run { get; }
    public Trainer Trainer { get; }
    public Gpt Model { get; }
    public ITokenizer Tokenizer { get; }
    public ITokenBatchSource Data { get; }
    public TrainingRecipe Recipe { get; }
    public bool Resumed { get; }

    TrainingSession(RunFolder run, Trainer trainer, Gpt model, ITokenizer tokenizer, ITokenBatchSource data, TrainingRecipe recipe, bool resumed)
    {
        (Run, Trainer, Model, Tokenizer, Data, Recipe, Resumed) = (run, trainer, model, tokenizer, data, recipe, resumed);
        metrics = new MetricsLog(run.Metrics, recipe.LogInterval, trainer.Step);
        metrics.Attach(trainer);
    }

    /// <summary>
    /// Builds everything; <paramref name="info"/> receives messages for people. Bad input throws
    /// <see cref="ArgumentException"/>, <see cref="FormatException"/> or <see cref="InvalidDataException"/> with one line.
    /// </summary>
    public static TrainingSession Prepare(TrainingRequest request, Action<string> info)
    {
        var run = request.ResumeFolder is { } resume ? new RunFolder(resume)
            : request.OutFolder is { } o ? new RunFolder(o) : RunFolder.NewUnder(request.RunsRoot);
        if (request.ResumeFolder is not null && !run.Exists)
            throw new DirectoryNotFoundException($"{run.Path}: not a run folder (no recipe.json)");
        if (request.ResumeFolder is null && run.Exists)
            throw new ArgumentException($"{run.Path}: already holds a run; continue it with --resume {run.Path} or pick another --out");

        var runInfo = run.ReadInfo();
        var textFile = request.TextFile ?? (string?)runInfo["text"];
        var dataFolder = request.DataFolder ?? (string?)runInfo["data"];
        var initModel = request.InitModel ?? (string?)runInfo["init"];
        var recipe = request.Recipe.Validate();
        if (textFile is null && dataFolder is null) throw new ArgumentException("give the training data: --text FILE or --data DIR");
        if (textFile is not null && dataFolder is not null) throw new ArgumentException("give --text or --data, not both");
        if (textFile is not null && recipe.MixtureWeights is not null) throw new ArgumentException("--weights picks sources of a prepared data folder (--data); a --text file has one");

        ThreadSetting.Apply(recipe);
        var device = DeviceFor(recipe.Device);

        // Tokenizer: the run's own (resume), the init model's, or a new one named by the recipe.
        LoadedModel? init = initModel is not null ? ModelFolder.Load(initModel) : null;
        var tokenizerFile = Path.Combine(run.Path, TokenizerStore.FileName);
        // A prepared data folder was tokenized already: its tokenizer is the only one that can read it.
        ITokenizer tokenizer = File.Exists(tokenizerFile) ? TokenizerStore.Load(run.Path)
            : init?.Tokenizer ?? (dataFolder is not null ? TokenizerStore.Load(dataFolder)
                : TokenizerStore.FromName(recipe.Tokenizer, recipe.Tokenizer == "char" && textFile is not null ? ReadText(textFile) : null));

        var data = textFile is not null
            ? TextBatchSource.FromFile(textFile, tokenizer, recipe.Seed)
            : PreparedDataSource.Open(dataFolder!, tokenizer, recipe.Seed, recipe.ParsedMixtureWeights);
        if (data is TextBatchSource text) text.CheckContext(recipe.Context);

        GptConfig config;
        if (init is not null)
        {
            config = init.Model.Config with { Dropout = recipe.Dropout };
            if (recipe.ContextLength is { } c && c > config.ContextLength)
                throw new ArgumentException($"n_ctx {c} is longer than the --init model's context ({config.ContextLength})");
        }
        else config = recipe.ModelConfig(tokenizer.VocabSize);

        manual_seed(recipe.Seed);
        var model = new Gpt(config);
        if (init is not null)
        {
            ModelFolder.LoadWeights(model, init.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone()), initModel!);
            init.Dispose();
        }
        if (device.type != TorchSharp.DeviceType.CPU) model.to(device);

        Directory.CreateDirectory(run.Path);
        var resolved = recipe.ToJson();
        if (request.ResumeFolder is null)
        {
            AtomicFile.WriteAllText(run.Recipe, resolved.ToJsonString(GptConfig.Indented));
            TokenizerStore.Save(tokenizer, run.Path);
        }
        else AtomicFile.WriteAllText(run.Recipe, resolved.ToJsonString(GptConfig.Indented)); // bookkeeping changes (iters) are allowed
        WriteInfo(run, textFile, dataFolder, initModel, data.Description, "running", config);

        var store = new CheckpointStore(run.Checkpoints, recipe.KeepCheckpoints);
        var trainer = new Trainer(model, data, recipe, store, tokenizer);
        trainer.Message += info;
        var resumed = false;
        if (request.ResumeFolder is not null)
        {
            resumed = trainer.TryResume();
            if (!resumed) info("no usable checkpoint in the run folder: starting from step 0");
        }
        return new TrainingSession(run, trainer, model, tokenizer, data, recipe, resumed);
    }

    public TrainingSummary Execute(CancellationToken cancel = default)
    {
        if (double.IsNaN(Trainer.PeakFlops)) Trainer.PeakFlops = MachinePeak.For(Model.parameters().First().device);
        var result = Trainer.Run(cancel);
        metrics.Dispose();
        var plots = TrainingPlots.Write(Run.Metrics, Run.Plots);
        if (!result.Cancelled) ModelFolder.Save(Model, Tokenizer, Run.Model);
        var parameters = Model.parameters().Sum(p => p.NumberOfElements);
        var info = Run.ReadInfo();
        info["status"] = result.Cancelled ? "stopped" : "finished";
        info["val_loss"] = double.IsNaN(result.ValidationLoss) ? null : result.ValidationLoss;
        info["best_val_loss"] = double.IsNaN(result.BestValidationLoss) ? null : result.BestValidationLoss;
        AtomicFile.WriteAllText(Run.RunInfo, info.ToJsonString(GptConfig.Indented));
        return new TrainingSummary(Run.Path, Run.Model, result, Model.Config, parameters, plots, Trainer.Replicas);
    }

    static void WriteInfo(RunFolder run, string? text, string? data, string? init, string source, string status, GptConfig config)
    {
        var info = run.ReadInfo();
        info["text"] = text is null ? null : Path.GetFullPath(text);
        info["data"] = data is null ? null : Path.GetFullPath(data);
        info["init"] = init is null ? null : Path.GetFullPath(init);
        info["source"] = source;
        info["status"] = status;
        info["model"] = config.ToJson();
        AtomicFile.WriteAllText(run.RunInfo, info.ToJsonString(GptConfig.Indented));
    }

    static string ReadText(string path) =>
        File.Exists(path) ? File.ReadAllText(path) : throw new FileNotFoundException($"{path}: text file not found");

    static Device DeviceFor(string name) => name.ToLowerInvariant() switch
    {
        "cpu" => CPU,
        "cuda" when cuda.is_available() => CUDA,
        "cuda" => throw new ArgumentException("device cuda: no CUDA device available (build with -p:TorchBackend=cuda on a machine with an NVIDIA GPU)"),
        _ => throw new ArgumentException($"device: unknown device '{name}' (expected cpu or cuda)"),
    };

    public void Dispose()
    {
        metrics.Dispose();
        Trainer.Dispose();
        Model.Dispose();
    }
}
