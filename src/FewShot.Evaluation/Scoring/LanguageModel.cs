using System.Security.Cryptography;
using FewShot.Model;
using FewShot.Model.Generation;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Evaluation.Scoring;

/// <summary>
/// The model as the harness sees it: log-likelihoods of continuations (batched, longest first), multiple-choice
/// scores from one pass over the shared context, greedy and beam-search generation, and rolling log-likelihood.
/// Results are cached by <see cref="Hash"/>, the caller's scope (the task's config hash) and the text.
/// </summary>
public sealed class LanguageModel(Gpt model, ITokenizer tokenizer, string? hash = null)
{
    public Gpt Model => model;
    public ITokenizer Tokenizer => tokenizer;
    public string Hash { get; } = hash ?? HashOf(model);
    public int ContextLength => model.Config.ContextLength;
    public long Parameters => model.parameters().Sum(p => p.numel());
    public ResultCache Cache { get; init; } = new();
    /// <summary>What results call the model (its folder's name).</summary>
    public string Name { get; init; } = "model";
    /// <summary>Rows per forward pass when scoring separate requests.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Rows x longest sequence per forward pass: bounds the (B, T, vocab) logits.</summary>
    public int TokenBudget { get; init; } = 4096;

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
        // Longest first: equal lengths share batches (little padding), and running out of memory shows at once.
        var ordered = todo.OrderByDescending(r => r.Context.Length + r.Continuation.Length).ToList();
        for (var start = 0; start < ordered.Count;)
        {
            var longest = ordered[start].Context.Length + ordered[start].Continuation.Length - 1;
            var rows = Math.Clamp(TokenBudget / Math.Max(1, longest), 1, BatchSize);
            var batch = ordered.Skip(start).Take(rows).ToList();
            var scored = ScoreIds([.. batch.Select(b => (b.Context, b.Continuation))]);
            for (var j = 0; j < batch.Count; j++) { results[batch[j].Index] = scored[j]; Cache.Set(batch[j].Key, scored[j]); }
            start += batch.Count;
        }
        return results;
    }

    /// <summary>One right-padded forward pass over context + continuation (minus its last token) for each row.</summary>
    public LogLikelihood[] ScoreIds(IReadOnlyList<(int[] Context, int[] Continuation)> rows)
    {
        var longest = rows.Max(r => r.Context.Length + r.Continuation.Length - 1);
        if (longest > ContextLength) throw new ArgumentException($"a request of {longest + 1} tokens does not fit the model's context ({ContextLength})");
        var padded = new long[rows.Count, longest];
        for (var b = 0; b < rows.Count; b++)
        {
            var (context, continuation) = rows[b];
            for (var t = 0; t < context.Length + continuation.Length - 1; t++)
                padded[b, t] = t < context.Length ? context[t] : continuation[t - context.Length];
        }
        return WithModel(() =>
        {
            using var logits = model.Forward(tensor(padded, device: Device), cache: null); // (B, T, V)
            var results = new LogLikelihood[rows.Count];
            for (var b = 0; b < rows.Count; b++)
            {
                var (context, continuation) = rows[b];
                // Positions context-1 .. context+len-2 predict the continuation's tokens.
                using var slice = logits[b].narrow(0, context.Length - 1, continuation.Length);
                results[b] = Gather(slice, continuation);
            }
            return results;
        });
    }

    /// <summary>
    /// Scores every choice of one multiple-choice question from a single pass over the shared context: the context
    /// fills row 0 of a KV cache, the row is copied to one row per choice, and the choices run as one batch.
    /// </summary>
    public LogLikelihood[] ScoreChoices(string context, IReadOnlyList<string> continuations, string scope = "")
    {
        var keys = continuations.Select(c => ResultCache.Key(Hash, scope, "ll", context, c)).ToArray();
        var cached = new LogLikelihood[continuations.Count];
        if (keys.Select((k, i) => Cache.TryGet(k, out cached[i])).ToArray().All(hit => hit)) return cached;

        var contextIds = EncodeContext(context);
        var choiceIds = continuations.Select(EncodeContinuation).ToArray();
        var results = ScoreChoiceIds(contextIds, choiceIds);
        for (var i = 0; i < keys.Length; i++) Cache.Set(keys[i], results[i]);
        return results;
    }

    public LogLikelihood[] ScoreChoiceIds(int[] context, int[][] choices)
    {
        var longestChoice = choices.Max(c => c.Length);
        if (context.Length + longestChoice - 1 > ContextLength)
            throw new ArgumentException($"a question of {context.Length + longestChoice} tokens does not fit the model's context ({ContextLength})");
        return WithModel(() =>
        {
            using var cache = model.NewCache(choices.Length, context.Length + longestChoice - 1);
            using var first = model.Forward(tensor(context.Select(i => (long)i).ToArray(), device: Device).view(1, -1), cache.Rows(0, 1), lastOnly: true);
            for (var row = 1; row < choices.Length; row++) cache.CopyRow(0, row);
            Tensor? rest = null; // (choices, longest - 1, V): row i, step j predicts token j + 1 of choice i
            if (longestChoice > 1)
            {
                var padded = new long[choices.Length, longestChoice - 1];
                for (var b = 0; b < choices.Length; b++)
                    for (var t = 0; t < choices[b].Length - 1; t++) padded[b, t] = choices[b][t];
                rest = model.Forward(tensor(padded, device: Device), cache);
            }
            var results = new LogLikelihood[choices.Length];
            for (var b = 0; b < choices.Length; b++)
            {
                using var steps = rest is null || choices[b].Length == 1
                    ? first[0].narrow(0, 0, 1)
                    : cat([first[0], rest[b].narrow(0, 0, choices[b].Length - 1)], 0); // (len, V)
                results[b] = Gather(steps, choices[b]);
            }
            rest?.Dispose();
            return results;
        });
    }

    /// <summary>The naive loop: one full forward pass of context + choice per choice (for comparison and tests).</summary>
    public LogLikelihood[] ScoreChoicesSeparately(int[] context, int[][] choices) =>
        [.. choices.Select(choice => ScoreIds([(context, choice)])[0])];

    /// <summary>Total negative log-likelihood of a document and the number of tokens scored (context-sized windows).</summary>
    public (double Nll, int Tokens) ScoreRolling(string text, string scope = "")
    {
        var key = ResultCache.Key(Hash, scope, "rolling", text);
        if (Cache.TryGet<double[]>(key, out var hit)) return (hit[0], (int)hit[1]);
        var ids = tokenizer.Encode(text);
        int[] full = tokenizer.EndOfText >= 0 ? [tokenizer.EndOfText, .. ids] : ids;
        double nll = 0;
        var tokens = 0;
        for (var start = 0; start < full.Length - 1; start += ContextLength)
        {
            var length = Math.Min(ContextLength, full.Length - 1 - start);
            var scored = ScoreIds([(full[start..(start + 1)], full[(start + 1)..(start + 1 + length)])])[0];
            nll -= scored.LogProb;
            tokens += length;
        }
        Cache.Set(key, new[] { nll, tokens });
        return (nll, tokens);
    }

    /// <summary>Greedy continuations until a stop sequence, end-of-text or <paramref name="maxNewTokens"/>.</summary>
    public string[] GenerateGreedy(IReadOnlyList<string> contexts, IReadOnlyList<string> stop, int maxNewTokens)
    {
        var generator = new TextGenerator(model, tokenizer);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = maxNewTokens, Stop = stop, StopAtEndOfText = true };
        var results = new string[contexts.Count];
        var order = Enumerable.Range(0, contexts.Count).OrderByDescending(i => contexts[i].Length).ToArray();
        for (var start = 0; start < order.Length; start += BatchSize)
        {
            var batch = order.Skip(start).Take(BatchSize).ToArray();
            var done = generator.Generate(batch.Select(i => EncodeContext(contexts[i])).ToArray(), options);
            for (var j = 0; j < batch.Length; j++) results[batch[j]] = done[j].Text;
        }
        return results;
    }

    public string GenerateBeam(string context, IReadOnlyList<string> stop, int maxNewTokens, int width, double lengthPenalty) =>
        WithModel(() => BeamSearch.Run(model, tokenizer, EncodeContext(context), stop, maxNewTokens, width, lengthPenalty));

    Device Device => model.parameters().First().device;

    // Evaluation mode, no gradients, one dispose scope for the tensors of this call.
    T WithModel<T>(Func<T> work)
    {
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            return work();
        }
        finally { model.train(wasTraining); }
    }

    // Sum of log-softmax at each step's target token; greedy when every target is that step's argmax. steps: (len, V).
    static LogLikelihood Gather(Tensor steps, int[] targets)
    {
        using var logp = F.log_softmax(steps.to(ScalarType.Float32), -1);
        using var index = tensor(targets.Select(t => (long)t).ToArray(), device: steps.device).view(-1, 1);
        using var picked = logp.gather(1, index).view(-1);
        using var argmax = logp.argmax(-1);
        var best = argmax.cpu().data<long>().Select(t => (int)t).ToArray();
        var greedy = best.SequenceEqual(targets);
        return new LogLikelihood(picked.to(ScalarType.Float64).sum().cpu().item<double>(), greedy, targets.Length, best);
    }
}
