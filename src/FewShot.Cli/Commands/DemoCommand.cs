using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Data.Shards;
using FewShot.Evaluation.Reports;
using FewShot.Model;
using FewShot.Model.Storage;
using FewShot.Training.Runs;
using Spectre.Console;

namespace FewShot.Cli.Commands;

/// <summary>
/// fewshot demo: the whole pipeline on the built-in data, as the commands a user would type. It prepares the built-in
/// mixture, trains two sizes of model on it, evaluates both zero-, one- and few-shot on the built-in tasks, draws the
/// paper's figures, writes results.json (the table, the gaps, the stage times) and serves the larger model.
/// Run it again and it picks up where it stopped: prepared data is reused, training resumes from its last checkpoint,
/// a finished model is not trained again, and evaluation answers come from its cache. Only a finished model is ever
/// evaluated, so no result of a half-trained model is reported.
/// </summary>
public sealed class DemoCommand : CliCommand
{
    readonly Option<string> output = new("--out") { Description = "Folder for the demo's data, runs, evaluations, figures and results.json", DefaultValueFactory = _ => "demo" };
    readonly Option<int> iterations = new("--iters") { Description = "Training steps of each model (16 sequences of 128 tokens each)", DefaultValueFactory = _ => DefaultIterations };
    readonly Option<int> limit = new("--eval-limit") { Description = "Test questions per task and setting (500: a gain of ~0.12 over a low zero-shot accuracy is then 5 standard errors)", DefaultValueFactory = _ => 500 };
    readonly Option<bool> noServe = new("--no-serve") { Description = "Stop after the evaluation instead of serving the larger model" };
    readonly Option<string> urls = new("--urls") { Description = "Where to serve the chat page and API", DefaultValueFactory = _ => "http://127.0.0.1:8080" };

    public const int DefaultIterations = 6000;

    /// <summary>
    /// The built-in tasks the demo reports: GPT-3's arithmetic and scrambles, the six word-list rules (whose rule only
    /// the demonstrations give, so they show in-context learning if anything does) and .NET documentation questions.
    /// </summary>
    public const string Tasks = "2D+,2D-,2Dx,RW,CL,WL-first,WL-last,WL-reverse,WL-rest,WL-copy,WL-swap,dotnet-types-mc";

    /// <summary>K = 0, 1 and few; ten word-list demonstrations fill the 128-token context.</summary>
    public const string Shots = "0,1,4,10";

    /// <summary>
    /// What the models are trained on: half word lists, the source that teaches inferring a task from its
    /// demonstrations, and the dialogues that teach the chat format (docs/evaluation.md, "The demo", says why).
    /// </summary>
    public const string MixtureWeights = "wordlists=0.8,dialogues=0.2";

    /// <summary>The two sizes: the larger one is served; the smaller one shows how the gain shrinks with size.</summary>
    public static IReadOnlyList<DemoModel> Models { get; } =
    [
        new("small", Layers: 2, Heads: 2, Embedding: 64),
        new("large", Layers: 2, Heads: 4, Embedding: 128),
    ];

    /// <summary>One model of the demo: its run folder is runs/NAME, its evaluation eval/NAME.</summary>
    public sealed record DemoModel(string Name, int Layers, int Heads, int Embedding);

    /// <summary>Few-shot counts as shown when it beats zero-shot by this many standard errors of the difference.</summary>
    public const double ShownStandardErrors = 5;

    public DemoCommand() : base("demo", "Run the whole pipeline on the built-in data: prepare, train two sizes, evaluate, plot, serve")
    {
        foreach (var o in new Option[] { output, iterations, limit, noServe, urls }) Options.Add(o);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var root = Path.GetFullPath(parse.GetValue(output)!);
        var data = Path.Combine(root, "data");
        var figures = Path.Combine(root, "figures");
        var commands = CommandLine.Build();
        var stages = new List<(string Name, double Seconds, bool Reused)>();
        var total = Stopwatch.StartNew();

        async Task Step(string title, params string[] args)
        {
            cancel.ThrowIfCancellationRequested();
            context.Status.Write(new Rule($"[bold]{Markup.Escape(title)}[/]").LeftJustified());
            context.Info("fewshot " + string.Join(' ', args));
            var code = await commands.Parse(args).InvokeAsync(cancellationToken: cancel);
            if (code != ExitCodes.Success) throw new DemoStepFailed(title, code);
        }

        async Task Stage(string name, bool reused, string reuseMessage, Func<Task> run)
        {
            var clock = Stopwatch.StartNew();
            if (reused) context.Info(reuseMessage);
            else await run();
            stages.Add((name, clock.Elapsed.TotalSeconds, reused));
        }

        try
        {
            await Stage("prepare", File.Exists(Path.Combine(data, ShardManifest.FileName)), $"data: reusing {data}",
                () => Step("1/4 prepare the built-in mixture", "data", "prepare", "builtin", "--out", data));

            foreach (var model in Models)
            {
                var run = Run(root, model);
                var title = $"2/4 train the {model.Name} model ({model.Layers} layers x {model.Embedding})";
                await Stage($"train {model.Name}", File.Exists(Path.Combine(run.Model, ModelFolder.ConfigFile)), $"{model.Name}: reusing the trained model in {run.Model}",
                    () => run.Exists
                        ? Step(title + ", resuming", "train", "--resume", run.Path)
                        : Step(title, "train", "--data", data, "--out", run.Path, "--weights", MixtureWeights,
                            "--layers", $"{model.Layers}", "--heads", $"{model.Heads}", "--embd", $"{model.Embedding}", "--ctx", "128",
                            "--batch", "16", "--iters", $"{parse.GetValue(iterations)}", "--lr", "3e-3", "--warmup-iters", "100",
                            "--eval-interval", "250", "--eval-batches", "10"));
            }

            foreach (var model in Models)
                await Stage($"evaluate {model.Name}", false, "", () => Step($"3/4 zero-, one- and few-shot evaluation of the {model.Name} model",
                    "eval", "--model", Run(root, model).Model, "--tasks", Tasks, "--shots", Shots,
                    "--limit", $"{parse.GetValue(limit)}", "--out", Evaluation(root, model)));

            var wordLists = string.Join(',', Tasks.Split(',').Where(t => t.StartsWith("WL-", StringComparison.Ordinal)));
            await Stage("plot", false, "", () => Step("4/4 the paper's figures", ["eval", "plot", .. Models.Select(m => Evaluation(root, m)), "--tasks", wordLists, "--out", figures]));

            var resultsPath = WriteResults(root, figures, stages, total.Elapsed.TotalSeconds, out var summary);
            context.Out.Write(summary);
            foreach (var (name, seconds, reused) in stages)
                context.Out.MarkupLine($"  {Markup.Escape(name),-16} {seconds,7:F1} s{(reused ? " (reused)" : "")}");
            context.Out.MarkupLine($"  {"whole demo",-16} {total.Elapsed.TotalSeconds,7:F1} s");
            context.Info($"results: {resultsPath}; figures: {Path.Combine(figures, "accuracy-vs-shots.png")} (accuracy against K per size), " +
                         $"{Path.Combine(figures, "gap-vs-size.png")} (few/zero gap against size), {Path.Combine(figures, "accuracy-vs-size.png")}");

            var served = Run(root, Models[^1]).Model;
            if (parse.GetValue(noServe))
            {
                context.Info($"done: serve the larger model with: fewshot serve --model {served} --open");
                return ExitCodes.Success;
            }
            context.Info($"serving the larger model on loopback without keys (--open): open {parse.GetValue(urls)} in a browser, no key needed");
            await Step("serve the larger model (Ctrl+C stops)", "serve", "--model", served, "--urls", parse.GetValue(urls)!, "--open");
            return ExitCodes.Success;
        }
        catch (DemoStepFailed failed)
        {
            context.Error($"demo step '{failed.Step}' failed (exit code {failed.Code}); run `fewshot demo` again to continue from there");
            return failed.Code;
        }
    }

    static RunFolder Run(string root, DemoModel model) => new(Path.Combine(root, "runs", model.Name));

    static string Evaluation(string root, DemoModel model) => Path.Combine(root, "eval", model.Name);

    /// <summary>
    /// results.json: per model and task, zero- and few-shot accuracy with their standard errors and the gap in standard
    /// errors of the difference; which tasks pass <see cref="ShownStandardErrors"/>; the stage times. Written atomically.
    /// </summary>
    static string WriteResults(string root, string figures, IReadOnlyList<(string Name, double Seconds, bool Reused)> stages, double totalSeconds, out Table summary)
    {
        summary = new Table().Title("Few-shot against zero-shot (K = 0 against the largest K; se = standard error of the difference)")
            .AddColumns("model", "parameters", "task", "K=0", "few-shot", "gap", "gap / se");
        var models = new JsonArray();
        foreach (var model in Models)
        {
            var results = ResultsFile.Read(Path.Combine(Evaluation(root, model), ResultsFile.ResultsName));
            var tasks = new JsonArray();
            foreach (var gain in InContextGain.Of(results))
            {
                var shown = gain.StandardErrors >= ShownStandardErrors;
                tasks.Add(new JsonObject
                {
                    ["task"] = gain.Task,
                    ["zero_shot"] = gain.ZeroShot, ["zero_shot_stderr"] = gain.ZeroShotStdErr,
                    ["few_shot_k"] = gain.FewShotK, ["few_shot"] = gain.FewShot, ["few_shot_stderr"] = gain.FewShotStdErr,
                    ["gap"] = gain.Gap, ["gap_stderrs"] = double.IsFinite(gain.StandardErrors) ? gain.StandardErrors : null, ["shown"] = shown,
                });
                summary.AddRow(model.Name, $"{results.Model.Parameters / 1e6:0.00}M", gain.Task, $"{gain.ZeroShot:0.000} ± {gain.ZeroShotStdErr:0.000}",
                    $"{gain.FewShot:0.000} ± {gain.FewShotStdErr:0.000} (K={gain.FewShotK})", $"{gain.Gap:+0.000;-0.000;0.000}",
                    shown ? $"[green]{Format(gain.StandardErrors)}[/]" : Format(gain.StandardErrors));
            }
            models.Add(new JsonObject
            {
                ["name"] = model.Name,
                ["parameters"] = results.Model.Parameters,
                ["layers"] = model.Layers, ["heads"] = model.Heads, ["embedding"] = model.Embedding,
                ["model_folder"] = Run(root, model).Model,
                ["results"] = Path.Combine(Evaluation(root, model), ResultsFile.ResultsName),
                ["tasks_shown"] = tasks.Count(t => t!["shown"]!.GetValue<bool>()),
                ["mean_gap"] = tasks.Count == 0 ? 0 : tasks.Average(t => t!["gap"]!.GetValue<double>()),
                ["tasks"] = tasks,
            });
        }
        var document = new JsonObject
        {
            ["format"] = "fewshot-demo-1",
            ["created"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["criterion"] = $"few-shot - zero-shot >= {ShownStandardErrors} standard errors of the difference",
            ["models"] = models,
            ["figures"] = new JsonObject
            {
                ["accuracy_vs_shots"] = Path.Combine(figures, "accuracy-vs-shots.png"),
                ["gap_vs_size"] = Path.Combine(figures, "gap-vs-size.png"),
                ["accuracy_vs_size"] = Path.Combine(figures, "accuracy-vs-size.png"),
            },
            ["stages"] = new JsonArray([.. stages.Select(s => (JsonNode)new JsonObject { ["stage"] = s.Name, ["seconds"] = Math.Round(s.Seconds, 1), ["reused"] = s.Reused })]),
            ["total_seconds"] = Math.Round(totalSeconds, 1),
        };
        var path = Path.Combine(root, "results.json");
        AtomicFile.WriteAllText(path, document.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    static string Format(double standardErrors) => double.IsFinite(standardErrors) ? $"{standardErrors:0.0}" : standardErrors > 0 ? "inf" : "-inf";

    sealed class DemoStepFailed(string step, int code) : Exception(step)
    {
        public string Step { get; } = step;
        public int Code { get; } = code;
    }
}
