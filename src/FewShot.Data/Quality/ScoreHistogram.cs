using ScottPlot;

namespace FewShot.Data.Quality;

/// <summary>Draws the quality scores of each source as a histogram PNG (GPT-3's filter, made visible).</summary>
public static class ScoreHistogram
{
    public static void Save(string path, IReadOnlyDictionary<string, List<float>> scoresBySource, int bins = 40)
    {
        var plot = new Plot();
        var width = 1.0 / bins;
        foreach (var (source, scores) in scoresBySource)
        {
            if (scores.Count == 0) continue;
            var counts = new double[bins];
            foreach (var s in scores) counts[Math.Clamp((int)(s * bins), 0, bins - 1)]++;
            var positions = Enumerable.Range(0, bins).Select(i => (i + 0.5) * width).ToArray();
            var shares = counts.Select(c => c / scores.Count).ToArray();
            var bars = plot.Add.Bars(positions, shares);
            foreach (var bar in bars.Bars) bar.Size = width * 0.9;
            bars.LegendText = $"{source} (n={scores.Count:N0})";
        }
        plot.Title("Quality classifier scores (share of documents per bin)");
        plot.XLabel("score = P(reference-like)");
        plot.YLabel("share of documents");
        plot.ShowLegend();
        var temporary = path + ".tmp.png";
        plot.SavePng(temporary, 900, 500);
        File.Move(temporary, path, overwrite: true);
    }
}
