using ScottPlot;

namespace FewShot.Training.Scaling;

/// <summary>Validation loss against compute on log-log axes: every model's curve, the frontier, the fit and the paper's fit for reference.</summary>
public static class ScalingPlot
{
    public static void Write(ScalingResult result, string path)
    {
        var plot = new Plot();
        foreach (var group in result.Points.GroupBy(p => p.Size))
        {
            var line = plot.Add.Scatter(group.Select(p => Math.Log10(p.PetaflopDays)).ToArray(), group.Select(p => Math.Log10(p.Loss)).ToArray());
            line.LegendText = $"{group.Key} ({group.First().NonEmbeddingParameters:N0} params)";
            line.MarkerSize = 4;
        }
        var frontier = plot.Add.Scatter(result.Frontier.Select(p => Math.Log10(p.PetaflopDays)).ToArray(), result.Frontier.Select(p => Math.Log10(p.Loss)).ToArray());
        frontier.LegendText = "compute-efficient frontier";
        frontier.LineWidth = 0;
        frontier.MarkerSize = 9;
        frontier.MarkerShape = MarkerShape.OpenCircle;
        frontier.Color = Colors.Black;

        var (lo, hi) = (result.Points.Min(p => p.PetaflopDays), result.Points.Max(p => p.PetaflopDays));
        var xs = Enumerable.Range(0, 50).Select(i => Math.Log10(lo) + (Math.Log10(hi) - Math.Log10(lo)) * i / 49).ToArray();
        var fit = plot.Add.Scatter(xs, xs.Select(x => Math.Log10(result.Fit.At(Math.Pow(10, x)))).ToArray());
        fit.LegendText = $"fit: L = {result.Fit.A:F3} C^-{result.Fit.B:F3} (R² {result.Fit.RSquared:F2})";
        fit.MarkerSize = 0;
        fit.LinePattern = LinePattern.Dashed;
        fit.LineWidth = 2;
        fit.Color = Colors.Black;

        plot.Title("Validation loss vs training compute (non-embedding)");
        plot.XLabel("log10 compute (PF-days)");
        plot.YLabel("log10 validation loss (nats/token)");
        plot.ShowLegend(Alignment.UpperRight);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SavePng(path, 1000, 640);
    }
}
