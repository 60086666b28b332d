namespace FewShot.Serving.Engine;

/// <summary>
/// Prompts to score (echo with logprobs), waiting for the <see cref="BatchScheduler"/>, which runs them between two
/// decoding steps with <see cref="PromptScorer"/>. <see cref="Result"/> holds one entry per prompt token.
/// </summary>
public sealed class ScoringJob(IReadOnlyList<int[]> prompts, int top, CancellationToken cancel)
{
    readonly TaskCompletionSource<TokenLogprob[][]> result = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<int[]> Prompts => prompts;
    public int Top => top;
    public CancellationToken Cancel => cancel;
    public Task<TokenLogprob[][]> Result => result.Task;

    internal void Complete(TokenLogprob[][] value) => result.TrySetResult(value);
    internal void Fail(Exception error) => result.TrySetException(error);
}
