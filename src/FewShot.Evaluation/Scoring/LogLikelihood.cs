namespace FewShot.Evaluation.Scoring;

/// <summary>
/// log P(continuation | context) summed over its tokens, whether every token was the argmax, the token count, and the
/// argmax token at each of the continuation's positions given the true tokens before it (null in caches written
/// before it was recorded). Equal when all four are, the argmax compared token by token.
/// </summary>
public readonly record struct LogLikelihood(double LogProb, bool IsGreedy, int Tokens, int[]? Argmax = null)
{
    public bool Equals(LogLikelihood other) =>
        LogProb.Equals(other.LogProb) && IsGreedy == other.IsGreedy && Tokens == other.Tokens &&
        (Argmax is null ? other.Argmax is null : other.Argmax is not null && Argmax.AsSpan().SequenceEqual(other.Argmax));

    public override int GetHashCode() => HashCode.Combine(LogProb, IsGreedy, Tokens);
}
