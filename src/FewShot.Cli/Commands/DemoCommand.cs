using System.CommandLine;
using FewShot.Cli.Infrastructure;
using FewShot.Data.Shards;
using FewShot.Model.Storage;
using FewShot.Training.Runs;
using Spectre.Console;

namespace FewShot.Cli.Commands;

/// <summary>
/// fewshot demo: the whole pipeline on the built-in data, as the commands a user would type. It prepares the built-in
/// mixture, trains the demo model on it, evaluates zero-, one- and few-shot on the built-in tasks, and serves the model.
/// Run it again and it picks up where it stopped: prepared data is reused, training resumes from its last checkpoint,
/// a finished model is not trained again.
/// </summary>
public sealed class DemoCommand : CliCommand
{
    readonly Option<string> output = new("--out") { Description = "Folder for the demo's data, run, evaluation and model", DefaultValueFactory = _ => "demo" };
    readonly Option<int> iterations = new("--iters") { Description = "Training steps (16 x 256 tokens each)", DefaultValueFactory = _ => 400 };
    readonly Option<int> limit = new("--eval-limit") { Description = "Test questions per task and setting", DefaultValueFactory = _ => 100 };
    readonly Option<bool> noServe = new("--no-serve") { Description = "Stop after the evaluation instead of serving the model" };
    readonly Option<string> urls = new("--urls") { Description = "Where to serve the chat page and API", DefaultValueFactory = _ => "http://127.0.0.1:8080" };

    /// <summary>
    /// The built-in tasks the demo reports: arithmetic, scrambles, three word-list rules (whose rule only the
    /// demonstrations give, so they show in-context learning if anything does) and .NET documentation questions.
    /// </summary>
    public const string Tasks = "2D+,2D-,2Dx,RW,CL,WL-first,WL-last,WL-reverse,dotnet-types-mc";

    public DemoCommand() : base("demo", "Run the whole pipeline on the built-in data: prepare, train, evaluate, serve")
    {
        foreach (var o in new Option[] { output, iterations, limit, noServe, urls }) Options.Add(o);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var root = Path.GetFullPath(parse.GetValue(output)!);
        var (data, run, evaluation) = (Path.Combine(root, "data"), new RunFolder(Path.Combine(root, "run")), Path.Combine(root, "eval"));
        var commands = CommandLine.Build();

        async Task Step(string title, params string[] args)
        {
            cancel.ThrowIfCancellationRequested();
            context.Status.Write(new Rule($"[bold]{Markup.Escape(title)}[/]").LeftJustified());
            context.Info("fewshot " + string.Join(' ', args));
            var code = await commands.Parse(args).InvokeAsync(cancellationToken: cancel);
            if (code != ExitCodes.Success) throw new DemoStepFailed(title, code);
        }

        try
        {
            if (File.Exists(Path.Combine(data, ShardManifest.FileName))) context.Info($"1/4 data: reusing {data}");
            else await Step("1/4 prepare the built-in mixture", "data", "prepare", "builtin", "--out", data);

            if (File.Exists(Path.Combine(run.Model, ModelFolder.ConfigFile))) context.Info($"2/4 training: reusing the trained model in {run.Model}");
            else if (run.Exists) await Step("2/4 train the demo model (resuming)", "train", "--resume", run.Path);
            else
                await Step("2/4 train the demo model", "train", "--data", data, "--out", run.Path, "--preset", "demo",
                    "--iters", $"{parse.GetValue(iterations)}", "--warmup-iters", "40", "--eval-interval", "100", "--eval-batches", "20");

            await Step("3/4 zero-, one- and few-shot evaluation", "eval", "--model", run.Model, "--tasks", Tasks, "--shots", "0,1,10",
                "--limit", $"{parse.GetValue(limit)}", "--out", evaluation);

            if (parse.GetValue(noServe))
            {
                context.Info($"done: model {run.Model}; serve it with: fewshot serve --model {run.Model} --open");
                return ExitCodes.Success;
            }
            await Step("4/4 serve the model (Ctrl+C stops)", "serve", "--model", run.Model, "--urls", parse.GetValue(urls)!, "--open");
            return ExitCodes.Success;
        }
        catch (DemoStepFailed failed)
        {
            context.Error($"demo step '{failed.Step}' failed (exit code {failed.Code}); run `fewshot demo` again to continue from there");
            return failed.Code;
        }
    }

    sealed class DemoStepFailed(string step, int code) : Exception(step)
    {
        public string Step { get; } = step;
        public int Code { get; } = code;
    }
}
