using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace FewShot.Cli.Infrastructure;

/// <summary>
/// Where a command writes. <see cref="Out"/> carries results (tables, or the one JSON object with --json);
/// <see cref="Status"/> carries progress and messages for people, and goes to stderr so that stdout stays parseable.
/// Tests swap both for Spectre's TestConsole.
/// </summary>
public sealed class CliContext(IAnsiConsole output, IAnsiConsole status, TextWriter rawOutput, TextWriter rawStatus, bool json, bool verbose)
{
    public IAnsiConsole Out { get; } = output;
    public IAnsiConsole Status { get; } = status;
    public bool Json { get; } = json;
    public bool Verbose { get; } = verbose;

    static readonly JsonSerializerOptions Options = new() { WriteIndented = false };

    /// <summary>Writes one JSON object to stdout (the whole of a command's --json output).</summary>
    public void WriteJson(JsonNode value) => rawOutput.WriteLine(value.ToJsonString(Options));

    /// <summary>Writes generated text as it is (no markup, no wrapping).</summary>
    public void WriteText(string text) { rawOutput.Write(text); rawOutput.Flush(); }

    /// <summary>A one-line error on stderr, never wrapped.</summary>
    public void Error(string message) => rawStatus.WriteLine($"error: {message.ReplaceLineEndings(" ")}");

    public void ErrorDetail(string text) => rawStatus.WriteLine(text);

    public void Info(string message) => Status.MarkupLine($"[grey]{Markup.Escape(message)}[/]");
    public void Warn(string message) => Status.MarkupLine($"[yellow]warning:[/] {Markup.Escape(message)}");

    /// <summary>A Spectre progress display on the status console: description, bar, percentage, rate and ETA.</summary>
    public Progress Progress() => Status.Progress()
        .AutoClear(false)
        .HideCompleted(false)
        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                 new TransferSpeedlessRateColumn(), new RemainingTimeColumn(), new SpinnerColumn());

    public static CliContext ForConsole(bool json, bool verbose)
    {
        var status = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        var output = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        // Redirected output (a file, a pipe, CI) has no terminal width; do not wrap tables at 80 columns.
        if (Console.IsOutputRedirected) output.Profile.Width = 200;
        if (Console.IsErrorRedirected) status.Profile.Width = 200;
        return new CliContext(output, status, Console.Out, Console.Error, json, verbose);
    }
}

/// <summary>Shows a task's rate as "N unit/s" from the task's own Value and elapsed time (Spectre shows bytes only).</summary>
public sealed class TransferSpeedlessRateColumn : ProgressColumn
{
    public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime)
    {
        var speed = task.Speed;
        return new Markup(speed is null ? "[grey]-[/]" : $"[grey]{FormatRate(speed.Value)}/s[/]");
    }

    static string FormatRate(double perSecond) => perSecond switch
    {
        >= 1e6 => $"{perSecond / 1e6:F1}M",
        >= 1e3 => $"{perSecond / 1e3:F1}k",
        _ => $"{perSecond:F1}",
    };
}
