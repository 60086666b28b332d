using System.Diagnostics;

namespace FewShot.Training.Loop;

/// <summary>Where the trainer's time goes, accumulated over all steps: batch assembly, forward, backward, clipping, AdamW.</summary>
public sealed class StepTimings
{
    public TimeSpan Data, Forward, Backward, Clip, Optimizer;
    public long Steps;

    internal static long Now => Stopwatch.GetTimestamp();
    internal static TimeSpan Since(long start) => Stopwatch.GetElapsedTime(start);

    public TimeSpan Total => Data + Forward + Backward + Clip + Optimizer;

    public override string ToString()
    {
        if (Steps == 0) return "no steps";
        string Ms(TimeSpan t) => $"{t.TotalMilliseconds / Steps:F2}";
        return $"per step (ms): data {Ms(Data)}, forward {Ms(Forward)}, backward {Ms(Backward)}, clip {Ms(Clip)}, adamw {Ms(Optimizer)}, total {Ms(Total)}";
    }
}
