using System.Security.Cryptography;
using FewShot.Model;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;

namespace FewShot.Evaluation.Scoring;

/// <summary>
/// The model as the harness sees it: log-likelihoods of continuations, multiple-choice scores, rolling
/// log-likelihood and greedy or beam-search generation, for text. It tokenizes (context and continuation separately,
/// as GPT-3's evaluation did), caches results by <see cref="Hash"/>, the caller's scope (the task's config hash) and the
/// text, and hands the rest to an <see cref="ITokenScorer"/>: a model in this process or one behind an API.
/// </summary>
public sealed class LanguageModel(ITokenScorer scorer, ITokenizer tokenizer, string hash)
{
    /// <summary>A model loaded in this process; the hash defaults to one of its weights.</summary>
    public LanguageModel(Gpt model, ITokenizer tokenizer, string? hash = null) : this(new GptScorer(model, tokenizer), tokenizer, hash ?? HashOf(model)) { }

    public ITokenScorer Scorer => scorer;
    /// <summary>The model in this process; evaluation through an API has none (fine-tuning needs it).</summary>
    public Gpt Model => (scorer as GptScorer)?.Model ?? throw new InvalidOperationException("this model is served through an API; fine-tuning needs it in-process");
    public ITokenizer Tokenizer => tokenizer;
    public string Hash { get; } = hash;
    public int ContextLength => scorer.ContextLength;
    public long Parameters => scorer.Description.Parameters;
    public ResultCache Cache { get; init; } = new();
    /// <summary>What results call the model (its folder's name, or the API's model name).</summary>
    public string Name { get; init; } = "model";

    /// <summary>Rows per forward pass when scoring separate requests (in-process).</summary>
    public int BatchSize
    {
        get => (scorer as GptScorer)?.BatchSize ?? 16;
        init { if (scorer is GptScorer gpt) gpt.BatchSize = value; }
    }

    /// <summary>Rows x longest sequence per forward pass: bounds the (B, T, vocab) logits (in-process).</summary>
    public int TokenBudget
    {
        get => (scorer as GptScorer)?.TokenBudget ?? 4096;
        init { if (scorer is GptScorer gpt) gpt.TokenBudget = value; }
    }

    public int CountTokens(string text) => tokenizer.Encode(text).Length;

    public string Decode(IEnumerable<int> ids) => tokenizer.Decode(ids);

    /// <summary>SHA-256 (first 16 hex digits) of every parameter's bytes in state-dict order.</summary>
    public static string HashOf(Gpt model)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var _ = no_grad();
        foreach (var (name, tensor) in model.state_dict())
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            using var cpu = tensor.to(ScalarType.Float32).cpu().contiguous();
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(cpu.data<float>().ToArray().AsSpan()));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    int[] EncodeContext(string context)
    {
        var ids = tokenizer.Encode(context);
        if (ids.Length > 0) return ids;
        return tokenizer.EndOfText >= 0 ? [tokenizer.EndOfText]
            : throw new ArgumentException("an empty context needs a vocabulary with an end-of-text token to start from");
    }

    int[] EncodeContinuation(string continuation)
    {
        var ids = tokenizer.Encode(continuation);
        return ids.Length > 0 ? ids : throw new ArgumentException("an answer to score is empty (check the answer template and delimiter)");
    }

    /// <summary>log P(continuation | context) for each request, in the order given.</summary>
    public LogLikelihood[] Score(IReadOnlyList<(string Context, string Continuation)> requests, string scope = "")
    {
        var results = new LogLikelihood[requests.Count];
        var todo = new List<(int Index, int[] Context, int[] Continuation, string Key)>();
        for (var i = 0; i < requests.Count; i++)
        {
            var key = ResultCache.Key(Hash, scope, "ll", requests[i].Context, requests[i].Continuation);
            if (Cache.TryGet<LogLikelihood>(key, out var hit)) results[i] = hit;
            else todo.Add((i, EncodeContext(requests[i].Context), EncodeContinuation(requests[i].Continuation), key));
        }
        if (todo.Count == 0) return results;
        var scored = scorer.ScoreIds([.. todo.Select(t => (t.Context, t.Continuation))]);
        for (var j = 0; j < todo.Count; j++) { results[todo[j].Index] = scored[j]; Cache.Set(todo[j].Key, scored[j]); }
        return results;
    }

    /// <summary>log P(continuation | context) for token ids, uncached.</summary>
    public LogLikelihood[] ScoreIds(IReadOnlyList<(int[] Context, int[] Continuation)> rows) => scorer.ScoreIds(rows);

    /// <summary>Every choice of one multiple-choice question (see <see cref="ScoreChoices(IReadOnlyList{ValueTuple{string, IReadOnlyList{string}}}, string, Action{int}?)"/>).</summary>
    public LogLikelihood[] ScoreChoices(string context, IReadOnlyList<string> continuations, string scope = "") =>
        ScoreChoices([(context, continuations)], scope)[0];

    /// <summary>For each question, log P(choice | context) of each choice; <paramref name="progress"/> gets the questions done.</summary>
    public LogLikelihood[][] ScoreChoices(IReadOnlyList<(string Context, IReadOnlyList<string> Choices)> questions, string scope = "", Action<int>? progress = null)
    {
        var results = new LogLikelihood[questions.Count][];
        var todo = new List<(int Index, string[] Keys)>();
        for (var q = 0; q < questions.Count; q++)
        {
            var (context, choices) = questions[q];
            var keys = choices.Select(c => ResultCache.Key(Hash, scope, "ll", context, c)).ToArray();
            var cached = new LogLikelihood[choices.Count];
            if (keys.Select((k, i) => Cache.TryGet(k, out cached[i])).ToArray().All(hit => hit)) results[q] = cached;
            else todo.Add((q, keys));
        }
        var done = questions.Count - todo.Count;
        progress?.Invoke(done);
        if (todo.Count == 0) return results;
        var scored = scorer.ScoreChoiceIds(
            [.. todo.Select(t => (EncodeContext(questions[t.Index].Context), questions[t.Index].Choices.Select(EncodeContinuation).ToArray()))],
            progress is null ? null : n => progress(done + n));
        for (var j = 0; j < todo.Count; j++)
        {
            results[todo[j].Index] = scored[j];
            for (var i = 0; i < todo[j].Keys.Length; i++) Cache.Set(todo[j].Keys[i], scored[j][i]);
        }
        return results;
    }

    /// <summary>Total negative log-likelihood of a document and the number of tokens scored (context-sized windows).</summary>
    public (double Nll, int Tokens) ScoreRolling(string text, string scope = "") => ScoreRolling([text], scope)[0];

    /// <summary>
    /// Each document's total negative log-likelihood and tokens scored: end-of-text, then the document in windows of
    /// the context length, each window's first token given by the one before it. All windows of all documents are
    /// scored in one call.
    /// </summary>
    public (double Nll, int Tokens)[] ScoreRolling(IReadOnlyList<string> texts, string scope = "")
    {
        var results = new (double Nll, int Tokens)[texts.Count];
        var windows = new List<(int Document, int[] Context, int[] Continuation)>();
        var keys = new string[texts.Count];
        for (var d = 0; d < texts.Count; d++)
        {
            keys[d] = ResultCache.Key(Hash, scope, "rolling", texts[d]);
            if (Cache.TryGet<double[]>(keys[d], out var hit)) { results[d] = (hit[0], (int)hit[1]); keys[d] = ""; continue; }
            var ids = tokenizer.Encode(texts[d]);
            int[] full = tokenizer.EndOfText >= 0 ? [tokenizer.EndOfText, .. ids] : ids;
            for (var start = 0; start < full.Length - 1; start += ContextLength)
            {
                var length = Math.Min(ContextLength, full.Length - 1 - start);
                windows.Add((d, full[start..(start + 1)], full[(start + 1)..(start + 1 + length)]));
            }
        }
        var scored = windows.Count == 0 ? [] : scorer.ScoreIds([.. windows.Select(w => (w.Context, w.Continuation))]);
        for (var w = 0; w < windows.Count; w++)
        {
            var d = windows[w].Document;
            results[d] = (results[d].Nll - scored[w].LogProb, results[d].Tokens + windows[w].Continuation.Length);
        }
        for (var d = 0; d < texts.Count; d++)
            if (keys[d].Length > 0) Cache.Set(keys[d], new[] { results[d].Nll, results[d].Tokens });
        return results;
    }

    /// <summary>Greedy continuations until a stop sequence, end-of-text or <paramref name="maxNewTokens"/>.</summary>
    public string[] GenerateGreedy(IReadOnlyList<string> contexts, IReadOnlyList<string> stop, int maxNewTokens) =>
        scorer.GenerateGreedy([.. contexts.Select(EncodeContext)], stop, maxNewTokens);

    public string GenerateBeam(string context, IReadOnlyList<string> stop, int maxNewTokens, int width, double lengthPenalty) =>
        scorer.GenerateBeam(EncodeContext(context), stop, maxNewTokens, width, lengthPenalty);
}
