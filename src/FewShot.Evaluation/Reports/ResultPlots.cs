using FewShot.Evaluation.Running;
using ScottPlot;

namespace FewShot.Evaluation.Reports;

/// <summary>
/// The paper's figures from results files. Figure 1.2: accuracy against K (log axis; K = 0 drawn at 0.5) with and
/// without the task description. Figure 1.3: accuracy against model size (log axis) for zero-, one- and few-shot,
/// averaged over the tasks each file measured (in-context rows, IID, all examples, each task's primary metric).
/// </summary>
public static class ResultPlots
{
    static double KPosition(int k) => Math.Log10(k == 0 ? 0.5 : k);

    public static string AccuracyAgainstShots(IReadOnlyList<ResultsFile.Contents> runs, string path)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var series = 0;
        var taskNames = runs.SelectMany(r => r.Tasks).Select(t => t.Name).Distinct().ToList();
        var sizes = runs.Select(r => r.Model.Parameters).Distinct().Order().ToList();
        foreach (var run in runs)
            foreach (var task in run.Tasks)
            {
                // One colour per task (or per task and model when a single model is drawn); with several models the
                // line gets thicker with size. Solid with the description, dashed without.
                var color = palette.GetColor(runs.Count > 1 ? taskNames.IndexOf(task.Name) : series);
                series++;
                foreach (var description in new[] { true, false })
                {
                    var rows = Primary(run, task).Where(r => r.Description == description).OrderBy(r => r.Shots).ToArray();
                    if (rows.Length == 0) continue;
                    var xs = rows.Select(r => KPosition(r.Shots)).ToArray();
                    var ys = rows.Select(r => r.Value).ToArray();
                    var line = plot.Add.Scatter(xs, ys);
                    line.LegendText = $"{task.Name}{(runs.Count > 1 ? $" ({run.Model.Name} {run.Model.Parameters / 1e6:F1}M)" : "")} {(description ? "with" : "no")} description";
                    line.LinePattern = description ? LinePattern.Solid : LinePattern.Dashed;
                    line.Color = color;
                    line.LineWidth = 1 + 2 * sizes.IndexOf(run.Model.Parameters);
                    line.MarkerSize = 5 + 2 * sizes.IndexOf(run.Model.Parameters);
                    var bars = plot.Add.ErrorBar(xs, ys, rows.Select(r => r.StdErr).ToArray());
                    bars.Color = color;
                }
            }
        var ks = runs.SelectMany(r => r.Results).Select(r => r.Shots).Distinct().Order().ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ks.Select(KPosition).ToArray(), ks.Select(k => k.ToString()).ToArray());
        plot.XLabel("Number of examples in context (K)");
        plot.YLabel("Accuracy");
        plot.Title("In-context learning: accuracy against K (Figure 1.2)");
        // A legend of more than a few lines would cover the curves: beside the plot then, on a wider image.
        var many = series > 3;
        if (many) plot.ShowLegend(Edge.Right);
        else plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, many ? 1300 : 900, 600);
        return path;
    }

    public static string AccuracyAgainstSize(IReadOnlyList<ResultsFile.Contents> runs, string path)
    {
        var plot = new Plot();
        var settings = new (string Name, Func<IReadOnlyList<int>, int?> PickK)[]
        {
            ("Zero-shot", ks => ks.Contains(0) ? 0 : null),
            ("One-shot", ks => ks.Contains(1) ? 1 : null),
            ("Few-shot", ks => ks.Count > 0 && ks.Max() > 1 ? ks.Max() : null),
        };
        foreach (var (name, pickK) in settings)
        {
            var points = new List<(double X, double Y, double E)>();
            foreach (var run in runs.OrderBy(r => r.Model.Parameters))
            {
                var rows = run.Tasks.SelectMany(t => Primary(run, t)).ToArray();
                if (rows.Any(r => r.Description)) rows = [.. rows.Where(r => r.Description)]; // the paper's setting: with description
                var k = pickK([.. rows.Select(r => r.Shots).Distinct()]);
                if (k is null) continue;
                var atK = rows.Where(r => r.Shots == k).ToArray();
                if (atK.Length == 0) continue;
                var mean = atK.Average(r => r.Value);
                var error = Math.Sqrt(atK.Sum(r => r.StdErr * r.StdErr)) / atK.Length;
                points.Add((Math.Log10(run.Model.Parameters), mean, error));
            }
            if (points.Count == 0) continue;
            var line = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());
            line.LegendText = name;
            var bars = plot.Add.ErrorBar(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray(), points.Select(p => p.E).ToArray());
            bars.Color = line.Color;
        }
        SizeAxis(plot, runs);
        plot.YLabel("Mean accuracy over tasks");
        plot.Title("Zero-, one- and few-shot against model size (Figure 1.3)");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 900, 600);
        return path;
    }

    /// <summary>
    /// The few/zero gap against size (the spread between Figure 1.3's curves): few-shot minus zero-shot accuracy of
    /// each task (<see cref="InContextGain"/>), and their mean in bold, one point per results file.
    /// </summary>
    public static string GapAgainstSize(IReadOnlyList<ResultsFile.Contents> runs, string path)
    {
        var plot = new Plot();
        var ordered = runs.OrderBy(r => r.Model.Parameters).ToArray();
        var xs = ordered.Select(r => Math.Log10(r.Model.Parameters)).ToArray();
        var gains = ordered.Select(r => InContextGain.Of(r).ToDictionary(g => g.Task)).ToArray();
        var palette = new ScottPlot.Palettes.Category10();
        var tasks = gains.SelectMany(g => g.Keys).Distinct().ToArray();
        for (var t = 0; t < tasks.Length; t++)
        {
            var points = Enumerable.Range(0, ordered.Length).Where(i => gains[i].ContainsKey(tasks[t])).ToArray();
            var line = plot.Add.Scatter(points.Select(i => xs[i]).ToArray(), points.Select(i => gains[i][tasks[t]].Gap).ToArray());
            line.LegendText = tasks[t];
            line.Color = palette.GetColor(t);
            line.LineWidth = 1;
        }
        var withAny = Enumerable.Range(0, ordered.Length).Where(i => gains[i].Count > 0).ToArray();
        var mean = plot.Add.Scatter(withAny.Select(i => xs[i]).ToArray(), withAny.Select(i => gains[i].Values.Average(g => g.Gap)).ToArray());
        mean.LegendText = "mean over tasks";
        mean.Color = Colors.Black;
        mean.LineWidth = 3;
        plot.Add.HorizontalLine(0, 1, Colors.Gray, LinePattern.Dotted);
        SizeAxis(plot, runs);
        plot.YLabel("Few-shot minus zero-shot accuracy");
        plot.Title("What the demonstrations add, against model size");
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, 1100, 600);
        return path;
    }

    /// <summary>A log-scale x axis with a tick at each model size, labelled in millions of parameters.</summary>
    static void SizeAxis(Plot plot, IReadOnlyList<ResultsFile.Contents> runs)
    {
        var sizes = runs.Select(r => r.Model.Parameters).Distinct().Order().ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            sizes.Select(s => Math.Log10(s)).ToArray(), sizes.Select(s => $"{s / 1e6:0.##}M").ToArray());
        plot.XLabel("Parameters (log scale)");
    }

    internal static IEnumerable<MetricRow> Primary(ResultsFile.Contents run, TaskSummary task) =>
        run.Results.Where(r => r.Task == task.Name && r.Mode == "icl" && r.Split == "iid" && r.Subset == "all" && r.Metric == task.PrimaryMetric);
}
