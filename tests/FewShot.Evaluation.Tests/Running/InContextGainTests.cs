using FewShot.Evaluation.Reports;
using FewShot.Evaluation.Running;

namespace FewShot.Evaluation.Tests.Running;

public class InContextGainTests
{
    static MetricRow Row(string task, int shots, double value, double stderr, bool description = true, string mode = "icl", string split = "iid", string metric = "acc") =>
        new(task, "h", mode, shots, shots, description, split, "all", metric, value, stderr, 100, 1);

    static ResultsFile.Contents Run(params MetricRow[] rows) => new("fewshot-eval-1", DateTimeOffset.UnixEpoch,
        new ModelSummary("m", "h", 1000, 2, 64, 128, "bytes"), 1, [.. rows.Select(r => r.Task).Distinct().Select(t => new TaskSummary(t, "h", "builtin", "loglikelihood", "acc"))],
        rows, []);

    [Fact]
    public void TheGapIsLargestKAgainstZeroInStandardErrorsOfTheDifference()
    {
        var gains = InContextGain.Of(Run(
            Row("WL-rest", 0, 0.10, 0.03), Row("WL-rest", 1, 0.50, 0.05), Row("WL-rest", 10, 0.90, 0.04),
            Row("WL-rest", 10, 0.20, 0.04, description: false),   // the paper's setting is with the description
            Row("WL-rest", 10, 0.99, 0.01, mode: "bag_of_words"),   // not in-context learning
            Row("WL-rest", 10, 0.99, 0.01, split: "ood"),
            Row("only-zero", 0, 0.3, 0.05)));                      // no few-shot row: no gain
        var gain = Assert.Single(gains);
        Assert.Equal(("WL-rest", 10), (gain.Task, gain.FewShotK));
        Assert.Equal(0.80, gain.Gap, 12);
        Assert.Equal(0.80 / 0.05, gain.StandardErrors, 9);      // sqrt(0.03^2 + 0.04^2) = 0.05
    }

    [Fact]
    public void WithoutDescriptionRowsTheyAreUsedAndExactAccuraciesGiveInfiniteStandardErrors()
    {
        var gain = Assert.Single(InContextGain.Of(Run(Row("WL-copy", 0, 0, 0, description: false), Row("WL-copy", 4, 1, 0, description: false))));
        Assert.Equal(double.PositiveInfinity, gain.StandardErrors);
        Assert.Equal(0, Assert.Single(InContextGain.Of(Run(Row("t", 0, 0, 0), Row("t", 4, 0, 0)))).StandardErrors);
    }
}
