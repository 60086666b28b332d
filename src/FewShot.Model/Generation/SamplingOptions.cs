namespace FewShot.Model.Generation;

/// <summary>How to pick each next token and when to stop.</summary>
public sealed record SamplingOptions
{
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>0 means greedy (argmax).</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Keep only the K most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of tokens whose probabilities sum to at least P; 1 keeps all.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Generation stops before the first occurrence of any of these strings, which is not returned.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    public long? Seed { get; init; }
    /// <summary>Stop when the model emits the end-of-text token.</summary>
    public bool StopAtEndOfText { get; init; } = true;
    /// <summary>Drop the oldest prompt tokens when the prompt does not fit; otherwise such a prompt is an error.</summary>
    public bool TruncateLeft { get; init; }

    public SamplingOptions Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentException($"max new tokens must be >= 0, got {MaxNewTokens}");
        if (Temperature < 0 || double.IsNaN(Temperature)) throw new ArgumentException($"temperature must be >= 0, got {Temperature}");
        if (TopK < 0) throw new ArgumentException($"top-k must be >= 0, got {TopK}");
        if (TopP is <= 0 or > 1 || double.IsNaN(TopP)) throw new ArgumentException($"top-p must be in (0, 1], got {TopP}");
        return this;
    }
}

/// <summary>Why a sequence ended: "stop" (end-of-text or a stop sequence), "length" (max tokens or context), "cancelled".</summary>
public static class FinishReason
{
    public const string Stop = "stop";
    public const string Length = "length";
    public const string Cancelled = "cancelled";
}

/// <summary>One finished sequence: the generated ids (after the prompt) and their text, cut at a stop sequence.</summary>
public sealed record Completion(int[] PromptIds, int[] Ids, string Text, string FinishReason);

/// <summary>A piece of streamed output: the token(s) that became final and their text.</summary>
public sealed record TokenChunk(int[] Ids, string Text);
