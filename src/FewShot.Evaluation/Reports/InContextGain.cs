namespace FewShot.Evaluation.Reports;

/// <summary>
/// How much the demonstrations help on one task: few-shot (the largest K measured) against zero-shot accuracy, in the
/// paper's setting (in-context, IID split, all examples, with the description when it was measured, each task's
/// primary metric). <see cref="StandardErrors"/> is the gap over the standard error of the difference of the two
/// independent accuracies, sqrt(se0^2 + seK^2), so 5 means few-shot is above zero-shot by five of them.
/// </summary>
public sealed record InContextGain(string Task, double ZeroShot, double ZeroShotStdErr, int FewShotK, double FewShot, double FewShotStdErr)
{
    public double Gap => FewShot - ZeroShot;

    /// <summary>The gap in standard errors of the difference; infinite when both accuracies are exact (0 or 1 with no spread).</summary>
    public double StandardErrors
    {
        get
        {
            var error = Math.Sqrt(ZeroShotStdErr * ZeroShotStdErr + FewShotStdErr * FewShotStdErr);
            return error > 0 ? Gap / error : Gap == 0 ? 0 : Math.Sign(Gap) * double.PositiveInfinity;
        }
    }

    /// <summary>The gain of every task of <paramref name="run"/> measured at K = 0 and at some K > 0, in task order.</summary>
    public static IReadOnlyList<InContextGain> Of(ResultsFile.Contents run)
    {
        var gains = new List<InContextGain>();
        foreach (var task in run.Tasks)
        {
            var rows = ResultPlots.Primary(run, task).ToArray();
            if (rows.Any(r => r.Description)) rows = [.. rows.Where(r => r.Description)];
            var zero = rows.FirstOrDefault(r => r.Shots == 0);
            var few = rows.Where(r => r.Shots > 0).MaxBy(r => r.Shots);
            if (zero is null || few is null) continue;
            gains.Add(new InContextGain(task.Name, zero.Value, zero.StdErr, few.Shots, few.Value, few.StdErr));
        }
        return gains;
    }
}
