namespace FewShot.Evaluation.Scoring;

/// <summary>
/// Where in-process and API evaluation differ: the model's answers for token ids. <see cref="GptScorer"/> runs a
/// loaded model; <see cref="Api.ApiScorer"/> asks an OpenAI-compatible server (echo + logprobs + max_tokens 0 for
/// scores, completions for generation). <see cref="LanguageModel"/> adds tokenization, caching and the harness's
/// request shapes on top of either. Implementations batch as they see fit: every call may carry many requests.
/// </summary>
public interface ITokenScorer
{
    int ContextLength { get; }

    /// <summary>What results record about the model: size where known, and the API's base URL (null in-process).</summary>
    ScorerDescription Description { get; }

    /// <summary>log P(continuation | context) for each row, in order.</summary>
    LogLikelihood[] ScoreIds(IReadOnlyList<(int[] Context, int[] Continuation)> rows);

    /// <summary>For each question, log P(choice | context) for each of its choices; <paramref name="progress"/> gets the questions done so far.</summary>
    LogLikelihood[][] ScoreChoiceIds(IReadOnlyList<(int[] Context, int[][] Choices)> questions, Action<int>? progress = null);

    /// <summary>Greedy continuations until a stop sequence, end-of-text or <paramref name="maxNewTokens"/>.</summary>
    string[] GenerateGreedy(IReadOnlyList<int[]> prompts, IReadOnlyList<string> stop, int maxNewTokens);

    string GenerateBeam(int[] prompt, IReadOnlyList<string> stop, int maxNewTokens, int width, double lengthPenalty);
}

/// <summary>Parameters, layers and width (0 when an API does not say), and the base URL of a served model.</summary>
public sealed record ScorerDescription(long Parameters, int Layers, int Embedding, string? BaseUrl = null);
