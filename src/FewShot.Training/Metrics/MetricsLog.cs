using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Training.Loop;

namespace FewShot.Training.Metrics;

/// <summary>
/// metrics.jsonl: one JSON object per line, <c>"type": "train"</c> every log interval and <c>"type": "eval"</c> per
/// validation pass. Appended and flushed line by line so a killed run keeps what it logged; a resumed run first drops
/// the lines after the checkpoint it resumes from.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    readonly StreamWriter writer;
    readonly int logInterval;
    double lossSum;
    int lossCount;

    public string Path { get; }

    public MetricsLog(string path, int logInterval, long resumeStep)
    {
        Path = path;
        this.logInterval = logInterval;
        if (File.Exists(path)) File.WriteAllLines(path, Read(path).Where(r => r["step"]!.GetValue<long>() <= resumeStep).Select(r => r.ToJsonString()));
        writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
    }

    public void Attach(Trainer trainer)
    {
        trainer.StepCompleted += OnStep;
        trainer.Evaluated += OnEvaluation;
    }

    void OnStep(StepReport r)
    {
        lossSum += r.Loss;
        lossCount++;
        if (r.Step % logInterval != 0 && r.Step != r.TotalSteps) return;
        Write(new JsonObject
        {
            ["type"] = "train", ["step"] = r.Step, ["tokens"] = r.Tokens, ["loss"] = Round(lossSum / lossCount), ["lr"] = r.LearningRate,
            ["grad_norm"] = double.IsFinite(r.GradNorm) ? Round(r.GradNorm) : null, ["micro_batches"] = r.MicroBatches,
            ["tokens_per_s"] = Math.Round(r.TokensPerSecond, 1), ["model_flops"] = Math.Round(r.ModelFlopsPerSecond),
            ["mfu"] = double.IsFinite(r.ModelFlopsUtilization) ? Round(r.ModelFlopsUtilization) : null,
            ["elapsed_s"] = Math.Round(r.Elapsed.TotalSeconds, 3),
        });
        (lossSum, lossCount) = (0, 0);
    }

    void OnEvaluation(EvaluationReport r) => Write(new JsonObject
    {
        ["type"] = "eval", ["step"] = r.Step, ["tokens"] = r.Tokens, ["val_loss"] = Round(r.ValidationLoss),
        ["val_loss_early"] = Round(r.Validation.EarlyLoss), ["val_loss_late"] = Round(r.Validation.LateLoss),
        ["in_context_gain"] = Round(r.Validation.InContextGain),
        ["train_loss"] = r.TrainLoss is { } t ? Round(t) : null, ["sample"] = r.Sample, ["eval_s"] = Math.Round(r.Took.TotalSeconds, 3),
    });

    void Write(JsonObject line) => writer.WriteLine(line.ToJsonString());

    static double Round(double x) => Math.Round(x, 6);

    /// <summary>The readable lines of a metrics file (a line cut short by a kill is skipped).</summary>
    public static List<JsonNode> Read(string path)
    {
        var result = new List<JsonNode>();
        if (!File.Exists(path)) return result;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            try { if (JsonNode.Parse(line) is JsonObject o && o["step"] is not null) result.Add(o); }
            catch (JsonException) { }
        }
        return result;
    }

    public void Dispose() => writer.Dispose();
}
