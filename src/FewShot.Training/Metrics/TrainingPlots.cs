using System.Text.Json.Nodes;
using ScottPlot;

namespace FewShot.Training.Metrics;

/// <summary>
/// PNG plots of a run's metrics.jsonl: loss against tokens (train and validation, and validation over the early and
/// late positions of the context, whose gap is the in-context gain), the learning rate, and throughput.
/// </summary>
public static class TrainingPlots
{
    public static IReadOnlyList<string> Write(string metricsPath, string folder)
    {
        Directory.CreateDirectory(folder);
        var lines = MetricsLog.Read(metricsPath);
        var train = lines.Where(l => (string?)l["type"] == "train").ToList();
        var eval = lines.Where(l => (string?)l["type"] == "eval").ToList();
        var written = new List<string>();
        if (train.Count == 0) return written;

        var loss = new Plot();
        AddLine(loss, train, "tokens", "loss", "train");
        if (eval.Count > 0)
        {
            AddLine(loss, eval, "tokens", "val_loss", "validation", markers: true);
            AddLine(loss, eval, "tokens", "val_loss_early", "validation, first 1/8 of the context", markers: true);
            AddLine(loss, eval, "tokens", "val_loss_late", "validation, second half of the context (in-context)", markers: true);
        }
        loss.Title("Loss");
        loss.XLabel("tokens seen");
        loss.YLabel("cross-entropy (nats/token)");
        loss.ShowLegend(Alignment.UpperRight);
        written.Add(Save(loss, folder, "loss.png"));

        var lr = new Plot();
        AddLine(lr, train, "step", "lr", "learning rate");
        lr.Title("Learning-rate schedule");
        lr.XLabel("step");
        lr.YLabel("learning rate");
        written.Add(Save(lr, folder, "lr.png"));

        var speed = new Plot();
        AddLine(speed, train, "step", "tokens_per_s", "tokens/s");
        speed.Title("Throughput");
        speed.XLabel("step");
        speed.YLabel("training tokens per second");
        written.Add(Save(speed, folder, "throughput.png"));
        return written;
    }

    static void AddLine(Plot plot, List<JsonNode> lines, string x, string y, string label, bool markers = false)
    {
        var points = lines.Where(l => l[y] is not null && l[x] is not null).Select(l => (X: l[x]!.GetValue<double>(), Y: l[y]!.GetValue<double>())).ToArray();
        var scatter = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());
        scatter.LegendText = label;
        scatter.MarkerSize = markers ? 6 : 0;
    }

    static string Save(Plot plot, string folder, string name)
    {
        var path = Path.Combine(folder, name);
        plot.SavePng(path, 900, 540);
        return path;
    }
}
