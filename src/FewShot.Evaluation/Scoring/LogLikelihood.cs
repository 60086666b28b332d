namespace FewShot.Evaluation.Scoring;

/// <summary>log P(continuation | context) summed over its tokens, whether every token was the argmax, and the token count.</summary>
public readonly record struct LogLikelihood(double LogProb, bool IsGreedy, int Tokens);
