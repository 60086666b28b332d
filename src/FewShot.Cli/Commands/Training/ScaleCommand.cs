using System.CommandLine;
using FewShot.Cli.Infrastructure;
using FewShot.Model;
using FewShot.Model.Tokenization;
using FewShot.Training.Scaling;
using Spectre.Console;

namespace FewShot.Cli.Commands.Training;

/// <summary>
/// fewshot scale --text FILE: trains a family of small models on the same data, fits L(C) = a C^-b on the
/// compute-efficient frontier, and writes scaling.json and scaling.png.
/// </summary>
public sealed class ScaleCommand : CliCommand
{
    readonly Option<string> text = new("--text") { Description = "Text file to train on (first 90% train, last 10% validation)", Required = true };
    readonly Option<string> tokenizer = new("--tokenizer") { Description = "char, bytes or r50k_base", DefaultValueFactory = _ => "char" };
    readonly Option<string> output = new("--out") { Description = "Folder for scaling.json and scaling.png", DefaultValueFactory = _ => "runs/scaling" };
    readonly Option<string?> sizes = new("--sizes") { Description = "Model sizes as LAYERSxWIDTH[xHEADS], comma-separated (default 1x32,2x48,2x64,3x96,4x128,6x192)" };
    readonly Option<int?> steps = new("--steps") { Description = "Optimizer steps per model (default 1500)" };
    readonly Option<int?> batch = new("--batch") { Description = "Sequences per step (default 16)" };
    readonly Option<int?> context = new("--ctx") { Description = "Context length (default 64)" };
    readonly Option<int?> evaluations = new("--evals") { Description = "Validation points per model (default 10)" };
    readonly Option<int?> evalBatches = new("--eval-batches") { Description = "Validation batches per point (default 20)" };
    readonly Option<double?> lr = new("--lr") { Description = "Peak learning rate (default 2e-3)" };

    public ScaleCommand() : base("scale", "Scaling study: loss against compute for a family of model sizes, with a power-law fit")
    {
        foreach (var o in new Option[] { text, tokenizer, output, sizes, steps, batch, context, evaluations, evalBatches, lr }) Options.Add(o);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var defaults = new ScalingOptions();
        var options = defaults with
        {
            Sizes = parse.GetValue(sizes) is { } s ? ParseSizes(s) : defaults.Sizes,
            Steps = parse.GetValue(steps) ?? defaults.Steps,
            MicroBatch = parse.GetValue(batch) ?? defaults.MicroBatch,
            Context = parse.GetValue(this.context) ?? defaults.Context,
            Evaluations = parse.GetValue(evaluations) ?? defaults.Evaluations,
            EvalBatches = parse.GetValue(evalBatches) ?? defaults.EvalBatches,
            LearningRate = parse.GetValue(lr) ?? defaults.LearningRate,
        };
        if (options.Steps < 2 || options.Evaluations < 2 || options.Evaluations > options.Steps)
            throw new ArgumentException($"--steps ({options.Steps}) must be at least --evals ({options.Evaluations}), and both at least 2");
        var path = parse.GetValue(text)!;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: text file not found");
        var corpus = await File.ReadAllTextAsync(path, cancel);
        var tok = TokenizerStore.FromName(parse.GetValue(tokenizer)!, corpus);
        int[] tokens;
        try { tokens = tok.Encode(corpus); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}"); }

        var result = await Task.Factory.StartNew(() =>
        {
            ScalingResult? r = null;
            context.Progress().Start(progress =>
            {
                var tasks = options.Sizes.ToDictionary(size => size, size => progress.AddTask($"{size}", maxValue: options.Steps));
                r = ScalingStudy.Run(tokens, tok, options,
                    onStep: (size, step) =>
                    {
                        tasks[size].Value = step.Step;
                        if (step.Step % 10 == 0) tasks[size].Description = $"{size} loss {step.Loss:F3}";
                    },
                    onPoint: p => { if (context.Verbose) context.Info($"{p.Size} step {p.Step}: C = {p.PetaflopDays:E3} PF-days, val loss {p.Loss:F4}"); },
                    cancel: cancel);
            });
            return r!;
        }, cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        var folder = parse.GetValue(output)!;
        Directory.CreateDirectory(folder);
        var json = result.ToJson();
        json["options"] = new System.Text.Json.Nodes.JsonObject
        {
            ["text"] = Path.GetFullPath(path), ["tokenizer"] = tok.Name, ["sizes"] = string.Join(",", options.Sizes),
            ["steps"] = options.Steps, ["batch"] = options.MicroBatch, ["ctx"] = options.Context, ["lr"] = options.LearningRate,
        };
        var jsonPath = Path.Combine(folder, "scaling.json");
        var plotPath = Path.Combine(folder, "scaling.png");
        AtomicFile.WriteAllText(jsonPath, json.ToJsonString(GptConfig.Indented));
        ScalingPlot.Write(result, plotPath);

        if (context.Json)
        {
            json["plot"] = plotPath;
            context.WriteJson(json);
        }
        else
        {
            context.Out.MarkupLine($"fit on the compute-efficient frontier: [bold]{Markup.Escape(result.Fit.ToString())}[/]  (paper: L = 2.57 C^-0.048)");
            context.Out.MarkupLine($"wrote {Markup.Escape(jsonPath)} and {Markup.Escape(plotPath)}");
        }
        return ExitCodes.Success;
    }

    static IReadOnlyList<ScalingSize> ParseSizes(string text) =>
        text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(item =>
        {
            var parts = item.Split('x');
            if (parts.Length is < 2 or > 3 || !parts.All(p => int.TryParse(p, out var v) && v > 0))
                throw new ArgumentException($"--sizes: '{item}' is not LAYERSxWIDTH or LAYERSxWIDTHxHEADS");
            var (layers, width) = (int.Parse(parts[0]), int.Parse(parts[1]));
            var heads = parts.Length == 3 ? int.Parse(parts[2]) : Math.Max(1, width / 32);
            if (width % heads != 0) throw new ArgumentException($"--sizes: '{item}': {heads} heads do not divide width {width}");
            return new ScalingSize(layers, width, heads);
        }).ToList();
}
