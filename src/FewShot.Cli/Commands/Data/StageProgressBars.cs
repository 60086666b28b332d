using FewShot.Data;
using Spectre.Console;

namespace FewShot.Cli.Commands.Data;

/// <summary>
/// Shows the data library's <see cref="StageProgress"/> reports as Spectre progress tasks: one task per (stage, source).
/// A report with a total moves a bar; one without (documents read so far) shows a count and a rate. Reports come from
/// worker threads, hence the lock. Stages run one after another, so a new (stage, source) finishes the ones before it.
/// </summary>
internal sealed class StageProgressBars(ProgressContext progress) : IProgress<StageProgress>
{
    /// <summary>MaxValue of a task whose total is unknown: large enough never to be reached, so the rate column still works.</summary>
    const double Unbounded = 1e18;

    readonly Dictionary<(string Stage, string Source), ProgressTask> tasks = [];
    readonly Lock gate = new();

    public void Report(StageProgress value)
    {
        lock (gate)
        {
            if (!tasks.TryGetValue((value.Stage, value.Source), out var task))
            {
                foreach (var earlier in tasks.Values) Finish(earlier);
                task = progress.AddTask(Describe(value), maxValue: value.Total ?? Unbounded);
                task.IsIndeterminate = value.Total is null;
                tasks.Add((value.Stage, value.Source), task);
            }
            if (value.Total is { } total) task.MaxValue = Math.Max(1, total);
            task.Value = value.Done;
            task.Description = Describe(value);
        }
    }

    /// <summary>Marks every task complete (called when the work returned normally).</summary>
    public void FinishAll()
    {
        lock (gate)
            foreach (var task in tasks.Values) Finish(task);
    }

    static void Finish(ProgressTask task)
    {
        if (task.IsFinished) return;
        task.IsIndeterminate = false;
        if (task.MaxValue >= Unbounded) task.MaxValue = Math.Max(1, task.Value);
        task.Value = task.MaxValue;
        task.StopTask();
    }

    static string Describe(StageProgress p) =>
        Markup.Escape($"{p.Stage} {p.Source}: {p.Done:N0}{(p.Total is { } t ? $"/{t:N0}" : "")} {p.Unit}");
}
