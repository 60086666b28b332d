using FewShot.Model.Tokenization;
using FewShot.Serving.Engine;

namespace FewShot.Serving.Api;

/// <summary>
/// Token log-probabilities in OpenAI's two shapes. Completions: <c>{tokens, token_logprobs, top_logprobs, text_offset}</c>,
/// where each top_logprobs entry maps token text to log-probability and also holds the chosen token (up to logprobs + 1
/// entries, as GPT-3's API did), and a prompt's first token has null for both. Chat: <c>{content: [{token, logprob,
/// bytes, top_logprobs: [{token, logprob, bytes}]}], refusal}</c>.
/// </summary>
static class LogprobsFormat
{
    /// <summary>The completions shape; <paramref name="offset"/> is the first token's character offset in the choice's text.</summary>
    public static object Completion(ITokenizer tokenizer, IEnumerable<TokenLogprob> tokens, int offset)
    {
        var texts = new List<string>();
        var logprobs = new List<double?>();
        var tops = new List<Dictionary<string, double>?>();
        var offsets = new List<int>();
        foreach (var token in tokens)
        {
            var text = Text(tokenizer, token.Id);
            texts.Add(text);
            logprobs.Add(token.Logprob);
            offsets.Add(offset);
            offset += text.Length;
            if (token.Logprob is not { } own) { tops.Add(null); continue; }
            var top = new Dictionary<string, double>();
            foreach (var alternative in token.Top) top.TryAdd(Text(tokenizer, alternative.Id), alternative.Logprob);
            top.TryAdd(text, own);
            tops.Add(top);
        }
        return new { tokens = texts, token_logprobs = logprobs, top_logprobs = tops, text_offset = offsets };
    }

    /// <summary>The chat shape.</summary>
    public static object Chat(ITokenizer tokenizer, IEnumerable<TokenLogprob> tokens)
    {
        object Entry(int id, double logprob)
        {
            var text = Text(tokenizer, id);
            return new { token = text, logprob, bytes = System.Text.Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray() };
        }
        var content = tokens.Select(t =>
        {
            var text = Text(tokenizer, t.Id);
            return new
            {
                token = text,
                logprob = t.Logprob ?? 0,
                bytes = System.Text.Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray(),
                top_logprobs = t.Top.Select(a => Entry(a.Id, a.Logprob)).ToArray(),
            };
        }).ToArray();
        return new { content, refusal = (string?)null };
    }

    /// <summary>
    /// The tokens whose text starts inside the first <paramref name="textLength"/> characters, given that the tokens
    /// before them already cover <paramref name="start"/> characters: a stop sequence cuts the text, and the tokens
    /// that spelled the stop sequence go with it.
    /// </summary>
    public static TokenLogprob[] Visible(ITokenizer tokenizer, IReadOnlyList<TokenLogprob> tokens, int textLength, ref int start)
    {
        var kept = new List<TokenLogprob>();
        foreach (var token in tokens)
        {
            if (start >= textLength) break;
            kept.Add(token);
            start += Text(tokenizer, token.Id).Length;
        }
        return [.. kept];
    }

    /// <summary>
    /// A token's text. A model's vocabulary may be larger than its tokenizer's (padded to a round size); such ids, which
    /// a top-k list can hold, read as <c>&lt;|id|&gt;</c>, not as text they are not (some tokenizers fail on them, others
    /// give "", which would merge them in top_logprobs).
    /// </summary>
    public static string Text(ITokenizer tokenizer, int id) => id < tokenizer.VocabSize ? tokenizer.Decode([id]) : $"<|{id}|>";

    /// <summary>A finished sequence's mean log-probability per token (best_of ranks by it); 0 for an empty one.</summary>
    public static double MeanLogprob(GenerationResult result) =>
        result.Logprobs is { Length: > 0 } tokens ? tokens.Average(t => t.Logprob ?? 0) : 0;
}
