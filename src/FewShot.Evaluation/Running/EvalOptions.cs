using FewShot.Evaluation.Contamination;

namespace FewShot.Evaluation.Running;

public enum DescriptionMode { With, Without, Both }

/// <summary>What one evaluation run does besides the prompts themselves.</summary>
public sealed record EvalOptions
{
    /// <summary>K values; null means 0, 1 and each task's default K.</summary>
    public IReadOnlyList<int>? Shots { get; init; }
    public int Seed { get; init; } = 1234;
    /// <summary>Evaluate only the first N documents of each split.</summary>
    public int? Limit { get; init; }
    public DescriptionMode Descriptions { get; init; } = DescriptionMode.With;
    /// <summary>Override every generate_until task's decoding ("greedy" or "beam").</summary>
    public string? Decoding { get; init; }
    public IContaminationChecker? Contamination { get; init; }
    /// <summary>Also fine-tune a copy of the model on each K > 0 set of demonstrations.</summary>
    public FineTuner.Settings? FineTune { get; init; }
    /// <summary>Train and report the bag-of-words baseline (on IID and OOD queries).</summary>
    public bool BagOfWords { get; init; } = true;
    /// <summary>Called as examples are scored: (condition label, done, total).</summary>
    public Action<string, int, int>? OnProgress { get; init; }
}
