namespace FewShot.Training.Loop;

/// <summary>One optimizer step, as the trainer reports it after the step.</summary>
/// <param name="Loss">Mean training loss of this step's micro-batches.</param>
/// <param name="TokensPerSecond">Over the steps since the previous report's window (smoothed).</param>
/// <param name="ModelFlopsUtilization">Model FLOP/s (6N + 12 L d T per token) over the measured matmul rate.</param>
public sealed record StepReport(
    long Step, long TotalSteps, long Tokens, double Loss, double LearningRate, double GradNorm, int MicroBatches,
    double TokensPerSecond, double ModelFlopsPerSecond, double ModelFlopsUtilization, TimeSpan Elapsed, TimeSpan Remaining);

/// <summary>A validation pass over the fixed held-out batches, with a sample of generated text.</summary>
public sealed record EvaluationReport(long Step, long Tokens, ValidationLosses Validation, double? TrainLoss, string? Sample, TimeSpan Took)
{
    public double ValidationLoss => Validation.Loss;
}

/// <summary>
/// The validation loss, and the same loss over two bands of positions in the context window: its first eighth, where
/// the model has little context to use, and its second half. In-context gain = early - late: how much better a token is
/// predicted once the model has context to read (Olsson et al.'s in-context learning score, with bands for positions).
/// It jumps when the model learns to copy from its context, before the mean loss shows it.
/// </summary>
public sealed record ValidationLosses(double Loss, double EarlyLoss, double LateLoss)
{
    public double InContextGain => EarlyLoss - LateLoss;
}

/// <summary>The end of <see cref="Trainer.Run"/>.</summary>
public sealed record TrainingResult(long Steps, long Tokens, double FinalTrainLoss, double ValidationLoss, double BestValidationLoss,
    TimeSpan TrainTime, double TokensPerSecond, bool Cancelled);
