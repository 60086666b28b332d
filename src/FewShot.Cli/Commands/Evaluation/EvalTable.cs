using FewShot.Cli.Infrastructure;
using FewShot.Evaluation.Running;
using Spectre.Console;

namespace FewShot.Cli.Commands.Evaluation;

/// <summary>The task x K table: each task's primary metric as value ± standard error, per split and setting.</summary>
static class EvalTable
{
    public static void Write(CliContext context, EvalReport report)
    {
        var primary = report.Tasks.ToDictionary(t => t.Name, t => t.PrimaryMetric);
        var rows = report.Results.Where(r => r.Subset == "all" && (r.Metric == primary[r.Task] || r.Mode == "bag_of_words")).ToList();
        var columns = rows.Where(r => r.Mode != "bag_of_words")
            .Select(r => (r.Mode, r.Shots, r.Description)).Distinct()
            .OrderBy(c => c.Mode == "icl" ? 0 : 1).ThenBy(c => c.Shots).ThenByDescending(c => c.Description).ToList();
        var hasBow = rows.Any(r => r.Mode == "bag_of_words");
        var clean = report.Results.Where(r => r.Subset == "clean" && r.Metric == primary[r.Task]).ToList();

        var table = new Table().AddColumn("task").AddColumn("split").AddColumn("metric");
        foreach (var (mode, shots, description) in columns)
            table.AddColumn(new TableColumn($"{(mode == "icl" ? "" : "fine-tuned ")}K={shots}{(description ? "" : " (no desc)")}").RightAligned());
        if (hasBow) table.AddColumn(new TableColumn("bag of words").RightAligned());
        if (report.Contamination.Count > 0) table.AddColumn("contaminated / clean acc");

        foreach (var group in rows.GroupBy(r => (r.Task, r.Split)))
        {
            var cells = new List<string> { Markup.Escape(group.Key.Task), group.Key.Split, primary[group.Key.Task] };
            foreach (var (mode, shots, description) in columns)
            {
                var row = group.FirstOrDefault(r => r.Mode == mode && r.Shots == shots && r.Description == description);
                cells.Add(row is null ? "-" : Cell(row));
            }
            if (hasBow) cells.Add(group.FirstOrDefault(r => r.Mode == "bag_of_words") is { } bow ? Cell(bow) : "-");
            if (report.Contamination.Count > 0)
            {
                var c = report.Contamination.FirstOrDefault(x => x.Task == group.Key.Task && x.Split == group.Key.Split);
                var best = clean.Where(r => r.Task == group.Key.Task && r.Split == group.Key.Split && r.Mode == "icl").MaxBy(r => r.Shots);
                cells.Add(c is null ? "-" : $"{c.Contaminated}/{c.Checked}; {(best is null ? "-" : Cell(best))}");
            }
            table.AddRow(cells.ToArray());
        }
        context.Out.Write(table);
    }

    static string Cell(MetricRow r)
    {
        var text = $"{r.Value:F3} ± {r.StdErr:F3}";
        if (r.Mode == "icl" && r.EffectiveShots < r.Shots - 1e-9) text += $" [grey](K≈{r.EffectiveShots:F1})[/]";
        return text;
    }
}
