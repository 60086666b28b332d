using ScottPlot;

namespace FewShot.Cli.Plots;

/// <summary>Series on log-log axes, each labelled with its fitted slope (the exponent of a power law).</summary>
public static class LogLogPlot
{
    public sealed record Series(string Name, double[] X, double[] Y);

    /// <summary>Least-squares slope of log10(y) against log10(x).</summary>
    public static double Slope(double[] x, double[] y)
    {
        var lx = x.Select(Math.Log10).ToArray();
        var ly = y.Select(Math.Log10).ToArray();
        var (mx, my) = (lx.Average(), ly.Average());
        var covariance = lx.Zip(ly, (a, b) => (a - mx) * (b - my)).Sum();
        var variance = lx.Sum(a => (a - mx) * (a - mx));
        return variance == 0 ? double.NaN : covariance / variance;
    }

    public static void Save(string path, string title, string xLabel, string yLabel, IEnumerable<Series> series)
    {
        var plot = new Plot();
        foreach (var s in series)
        {
            var scatter = plot.Add.Scatter(s.X.Select(Math.Log10).ToArray(), s.Y.Select(Math.Log10).ToArray());
            scatter.LegendText = s.X.Length > 1 ? $"{s.Name} (slope {Slope(s.X, s.Y):F2})" : s.Name;
            scatter.MarkerSize = 7;
            scatter.LineWidth = 2;
        }
        static string Power(double exponent) => Math.Pow(10, exponent).ToString("G4");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = Power, MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator() };
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = Power, MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator() };
        plot.Grid.MajorLineColor = Colors.Black.WithOpacity(0.15);
        plot.Grid.MinorLineColor = Colors.Black.WithOpacity(0.05);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperLeft);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp.png");
        plot.SavePng(temporary, 900, 600);
        File.Move(temporary, path, overwrite: true);
    }
}
