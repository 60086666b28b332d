using FewShot.Model;
using FewShot.Model.Generation;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Evaluation.Scoring;

/// <summary>
/// A model loaded in this process: log-likelihoods batched longest first (right-padded, rows bounded by a token
/// budget), multiple-choice scores from one pass over the shared context, greedy and beam-search generation. All
/// model work of one call runs in evaluation mode, without gradients, in one dispose scope.
/// </summary>
public sealed class GptScorer(Gpt model, ITokenizer tokenizer) : ITokenScorer
{
    public Gpt Model => model;
    public int ContextLength => model.Config.ContextLength;
    public ScorerDescription Description => new(model.parameters().Sum(p => p.numel()), model.Config.Layers, model.Config.Embedding);
    /// <summary>Rows per forward pass when scoring separate requests.</summary>
    public int BatchSize { get; set; } = 16;
    /// <summary>Rows x longest sequence per forward pass: bounds the (B, T, vocab) logits.</summary>
    public int TokenBudget { get; set; } = 4096;

    public LogLikelihood[] ScoreIds(IReadOnlyList<(int[] Context, int[] Continuation)> rows)
    {
        var results = new LogLikelihood[rows.Count];
        // Longest first: equal lengths share batches (little padding), and running out of memory shows at once.
        var ordered = Enumerable.Range(0, rows.Count).OrderByDescending(i => rows[i].Context.Length + rows[i].Continuation.Length).ToList();
        for (var start = 0; start < ordered.Count;)
        {
            var longest = rows[ordered[start]].Context.Length + rows[ordered[start]].Continuation.Length - 1;
            var count = Math.Clamp(TokenBudget / Math.Max(1, longest), 1, BatchSize);
            var batch = ordered.Skip(start).Take(count).ToArray();
            var scored = ScoreBatch([.. batch.Select(i => rows[i])]);
            for (var j = 0; j < batch.Length; j++) results[batch[j]] = scored[j];
            start += batch.Length;
        }
        return results;
    }

    /// <summary>One right-padded forward pass over context + continuation (minus its last token) for each row.</summary>
    LogLikelihood[] ScoreBatch(IReadOnlyList<(int[] Context, int[] Continuation)> rows)
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

    public LogLikelihood[][] ScoreChoiceIds(IReadOnlyList<(int[] Context, int[][] Choices)> questions, Action<int>? progress = null)
    {
        var results = new LogLikelihood[questions.Count][];
        for (var q = 0; q < questions.Count; q++)
        {
            results[q] = ScoreChoiceIds(questions[q].Context, questions[q].Choices);
            progress?.Invoke(q + 1);
        }
        return results;
    }

    /// <summary>
    /// Scores every choice of one multiple-choice question from a single pass over the shared context: the context
    /// fills row 0 of a KV cache, the row is copied to one row per choice, and the choices run as one batch.
    /// </summary>
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
        [.. choices.Select(choice => ScoreBatch([(context, choice)])[0])];

    public string[] GenerateGreedy(IReadOnlyList<int[]> prompts, IReadOnlyList<string> stop, int maxNewTokens)
    {
        var generator = new TextGenerator(model, tokenizer);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = maxNewTokens, Stop = stop, StopAtEndOfText = true };
        var results = new string[prompts.Count];
        var order = Enumerable.Range(0, prompts.Count).OrderByDescending(i => prompts[i].Length).ToArray();
        for (var start = 0; start < order.Length; start += BatchSize)
        {
            var batch = order.Skip(start).Take(BatchSize).ToArray();
            var done = generator.Generate(batch.Select(i => prompts[i]).ToArray(), options);
            for (var j = 0; j < batch.Length; j++) results[batch[j]] = done[j].Text;
        }
        return results;
    }

    public string GenerateBeam(int[] prompt, IReadOnlyList<string> stop, int maxNewTokens, int width, double lengthPenalty) =>
        WithModel(() => BeamSearch.Run(model, tokenizer, prompt, stop, maxNewTokens, width, lengthPenalty));

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
