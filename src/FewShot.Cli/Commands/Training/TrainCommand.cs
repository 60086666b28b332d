using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Training.Recipes;
using FewShot.Training.Runs;
using FewShot.Training.Loop;
using Spectre.Console;

namespace FewShot.Cli.Commands.Training;

/// <summary>
/// fewshot train (--text FILE | --data DIR | --resume RUN) [--recipe FILE] [recipe flags]: trains a model, showing a
/// progress bar, and writes a run folder with checkpoints, metrics.jsonl, plots and the final model folder.
/// </summary>
public sealed class TrainCommand : CliCommand
{
    readonly Option<string?> recipeFile = new("--recipe") { Description = "Recipe JSON file (flags override its keys)" };
    readonly Option<string?> text = new("--text") { Description = "Train on one text file: first 90% training, last 10% validation" };
    readonly Option<string?> data = new("--data") { Description = "Train on a prepared data folder" };
    readonly Option<string?> output = new("--out") { Description = "Run folder to create (default: a new folder under runs/)" };
    readonly Option<string?> resume = new("--resume") { Description = "Continue the run in this folder from its newest good checkpoint" };
    readonly Option<string?> init = new("--init") { Description = "Start from this model folder's weights (fine-tuning)" };
    readonly List<(RecipeKey Key, Option<string?> Option)> recipeOptions = [];

    public TrainCommand() : base("train", "Train a GPT (GPT-3's recipe) on a text file or prepared data")
    {
        foreach (var o in new Option[] { recipeFile, text, data, output, resume, init }) Options.Add(o);
        foreach (var key in RecipeKeys.All)
        {
            var option = new Option<string?>(key.Flag) { Description = $"{key.Help} (recipe key '{key.Name}')" };
            recipeOptions.Add((key, option));
            Options.Add(option);
        }
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var resumeFolder = parse.GetValue(resume);
        var recipe = parse.GetValue(recipeFile) is { } file ? RecipeReader.Load(file)
            : resumeFolder is not null && File.Exists(new RunFolder(resumeFolder).Recipe) ? RecipeReader.Load(new RunFolder(resumeFolder).Recipe)
            : new TrainingRecipe();
        foreach (var (key, option) in recipeOptions)
            if (parse.GetValue(option) is { } value) RecipeReader.Apply(recipe, key.Name, RecipeKeys.ParseFlagValue(value), key.Flag);

        var request = new TrainingRequest(recipe, parse.GetValue(text), parse.GetValue(data), parse.GetValue(output), resumeFolder, parse.GetValue(init));
        // Model work stays on one thread: TorchSharp's dispose scopes are per thread.
        TrainingSummary summary;
        try
        {
            summary = await Task.Factory.StartNew(() => Train(request, context, cancel), cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        catch (CheckpointWriteException e)
        {
            // Disk full or unwritable: one line, and the last good checkpoint is named (it is intact).
            context.Error(e.Message);
            return ExitCodes.Failure;
        }

        var r = summary.Result;
        if (context.Json)
        {
            context.WriteJson(new JsonObject
            {
                ["run_dir"] = summary.RunFolder,
                ["model_dir"] = r.Cancelled ? null : summary.ModelFolder,
                ["steps"] = r.Steps,
                ["tokens"] = r.Tokens,
                ["parameters"] = summary.Parameters,
                ["train_loss"] = Finite(r.FinalTrainLoss),
                ["val_loss"] = Finite(r.ValidationLoss),
                ["best_val_loss"] = Finite(r.BestValidationLoss),
                ["train_seconds"] = Math.Round(r.TrainTime.TotalSeconds, 3),
                ["tokens_per_second"] = Math.Round(r.TokensPerSecond, 1),
                ["threads"] = TorchSharp.torch.get_num_threads(),
                ["replicas"] = summary.Replicas,
                ["stopped"] = r.Cancelled,
            });
        }
        else
        {
            var table = new Table().AddColumns("", "");
            table.AddRow("run", Markup.Escape(summary.RunFolder));
            table.AddRow("model", r.Cancelled ? "[yellow]not written (stopped early; resume with --resume)[/]" : Markup.Escape(summary.ModelFolder));
            table.AddRow("steps / tokens", $"{r.Steps:N0} / {Units.Count(r.Tokens)}");
            table.AddRow("validation loss (last / best)", $"{r.ValidationLoss:F4} / {r.BestValidationLoss:F4}");
            table.AddRow("training time", $"{r.TrainTime.TotalSeconds:F1} s ({r.TokensPerSecond:F0} tokens/s)");
            table.AddRow("plots", Markup.Escape(string.Join(", ", summary.Plots.Select(Path.GetFileName))));
            context.Out.Write(table);
        }
        return r.Cancelled ? ExitCodes.Cancelled : ExitCodes.Success;
    }

    static TrainingSummary Train(TrainingRequest request, CliContext context, CancellationToken cancel)
    {
        using var session = TrainingSession.Prepare(request, context.Info);
        var trainer = session.Trainer;
        var config = session.Model.Config;
        context.Info($"run {session.Run.Path}: {session.Data.Description}");
        context.Info($"model: {config.Layers} layers, {config.Heads} heads, d {config.Embedding}, ctx {config.ContextLength}, vocab {config.VocabSize}, " +
                     $"{Units.Count(session.Model.parameters().Sum(p => p.NumberOfElements))} parameters, {TorchSharp.torch.get_num_threads()} thread(s)");
        trainer.Evaluated += e => context.Info($"step {e.Step}: val loss {e.ValidationLoss:F4} (early context {e.Validation.EarlyLoss:F3}, " +
                                               $"late {e.Validation.LateLoss:F3}: in-context gain {e.Validation.InContextGain:F3})" + (e.TrainLoss is { } t ? $", train loss {t:F4}" : "") +
                                               (context.Verbose && e.Sample is { } s ? $"\n{s}" : ""));
        TrainingSummary? summary = null;
        context.Progress().Start(progress =>
        {
            var task = progress.AddTask("training", maxValue: session.Recipe.TotalIterations);
            task.Value = trainer.Step;
            trainer.StepCompleted += r =>
            {
                task.Value = r.Step;
                if (r.Step % 5 == 0 || r.Step == r.TotalSteps)
                    task.Description = $"step {r.Step}/{r.TotalSteps} loss {r.Loss:F3} {Units.Count((long)r.TokensPerSecond)} tok/s MFU {r.ModelFlopsUtilization:P0}";
            };
            summary = session.Execute(cancel);
        });
        if (context.Verbose) context.Info(trainer.Timings.ToString());
        return summary!;
    }

    static double? Finite(double x) => double.IsFinite(x) ? Math.Round(x, 6) : null;
}
