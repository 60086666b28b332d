using System.Text.Json.Nodes;
using FewShot.Evaluation.Scoring;
using FewShot.Model.Tokenization;

namespace FewShot.Evaluation.Api;

/// <summary>
/// A model behind an OpenAI-compatible completions API, as GPT-3 was evaluated: a log-likelihood is read from
/// <c>echo: true, logprobs: 1, max_tokens: 0</c> on the prompt context + continuation sent as token ids (so the
/// tokenization is exactly the harness's), summing the continuation's token_logprobs; a token was the greedy choice
/// when its log-probability is the top one at its position. Many prompts go in one request (a multiple-choice
/// question's choices always together, so a server can share their context), requests run concurrently through
/// <see cref="ApiClient"/>. Generation is completions at temperature 0 with the task's stop sequences.
/// </summary>
/// <param name="scoringMaxTokens">max_tokens sent with echo when scoring: 0 as GPT-3's API took it (and FewShot does);
/// 1 for servers that refuse 0 (vLLM) - the token generated after the prompt is then ignored.</param>
public sealed class ApiScorer(ApiClient client, ITokenizer tokenizer, int contextLength, long parameters = 0, int promptsPerRequest = 32,
    int scoringMaxTokens = 0) : ITokenScorer
{
    public int ContextLength => contextLength;
    public ScorerDescription Description => new(parameters, 0, 0, client.Endpoint.Display);

    public LogLikelihood[] ScoreIds(IReadOnlyList<(int[] Context, int[] Continuation)> rows)
    {
        var requests = rows.Select((r, i) => new[] { i }).Chunk(promptsPerRequest).Select(c => c.SelectMany(x => x).ToArray()).ToList();
        var results = new LogLikelihood[rows.Count];
        Run(requests, indices => ScoreAsync([.. indices.Select(i => rows[i])]), (indices, scored) =>
        {
            for (var j = 0; j < indices.Length; j++) results[indices[j]] = scored[j];
        }, null);
        return results;
    }

    public LogLikelihood[][] ScoreChoiceIds(IReadOnlyList<(int[] Context, int[][] Choices)> questions, Action<int>? progress = null)
    {
        // Whole questions per request, up to promptsPerRequest prompts (one question may exceed it alone).
        var requests = new List<int[]>();
        var current = new List<int>();
        var size = 0;
        for (var q = 0; q < questions.Count; q++)
        {
            if (current.Count > 0 && size + questions[q].Choices.Length > promptsPerRequest) { requests.Add([.. current]); current.Clear(); size = 0; }
            current.Add(q);
            size += questions[q].Choices.Length;
        }
        if (current.Count > 0) requests.Add([.. current]);

        var results = new LogLikelihood[questions.Count][];
        Run(requests, indices => ScoreAsync([.. indices.SelectMany(q => questions[q].Choices.Select(choice => (questions[q].Context, choice)))]), (indices, scored) =>
        {
            var at = 0;
            foreach (var q in indices)
            {
                results[q] = scored[at..(at + questions[q].Choices.Length)];
                at += questions[q].Choices.Length;
            }
        }, progress);
        return results;
    }

    public string[] GenerateGreedy(IReadOnlyList<int[]> prompts, IReadOnlyList<string> stop, int maxNewTokens)
    {
        var results = new string[prompts.Count];
        // Prompts of one request share max_tokens: group them by the room their context leaves (usually all alike).
        var requests = Enumerable.Range(0, prompts.Count).GroupBy(i => Math.Min(maxNewTokens, contextLength - prompts[i].Length))
            .SelectMany(g => g.Chunk(promptsPerRequest)).ToList();
        Run(requests, async indices =>
        {
            var room = Math.Min(maxNewTokens, contextLength - prompts[indices[0]].Length);
            if (room <= 0 || maxNewTokens == 0) return indices.Select(_ => "").ToArray();
            var request = new JsonObject
            {
                ["prompt"] = new JsonArray([.. indices.Select(i => (JsonNode)new JsonArray([.. prompts[i].Select(t => (JsonNode)t)]))]),
                ["max_tokens"] = room,
                ["temperature"] = 0,
            };
            // OpenAI takes at most 4 stop sequences; the rest are cut here.
            if (stop.Count > 0) request["stop"] = new JsonArray([.. stop.Take(4).Select(s => (JsonNode)s)]);
            var answer = await client.CompleteAsync(request);
            return Choices(answer, indices.Length).Select(c => Cut(Field<string>(c, "text"), stop)).ToArray();
        }, (indices, texts) =>
        {
            for (var j = 0; j < indices.Length; j++) results[indices[j]] = texts[j];
        }, null);
        return results;
    }

    public string GenerateBeam(int[] prompt, IReadOnlyList<string> stop, int maxNewTokens, int width, double lengthPenalty) =>
        throw new NotSupportedException("beam search needs the model in-process (an API returns samples, not beams); evaluate this task with --decoding greedy");

    static string Cut(string text, IReadOnlyList<string> stop)
    {
        var cut = stop.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        return cut >= 0 ? text[..cut] : text;
    }

    // Runs the requests concurrently (the client bounds how many are in flight), hands each result over on this
    // thread in completion order, and reports progress (items of finished requests) from this thread.
    void Run<T>(List<int[]> requests, Func<int[], Task<T>> send, Action<int[], T> take, Action<int>? progress)
    {
        var pending = requests.Select(r => (Indices: r, Task: Task.Run(() => send(r)))).ToList();
        var done = 0;
        while (pending.Count > 0)
        {
            var finished = Task.WhenAny(pending.Select(p => (Task)p.Task)).GetAwaiter().GetResult();
            var at = pending.FindIndex(p => p.Task == finished);
            var (indices, task) = pending[at];
            pending.RemoveAt(at);
            try { take(indices, task.GetAwaiter().GetResult()); }
            catch { foreach (var (_, other) in pending) other.ContinueWith(t => t.Exception, TaskScheduler.Default); throw; }
            done += indices.Length;
            progress?.Invoke(done);
        }
    }

    async Task<LogLikelihood[]> ScoreAsync(IReadOnlyList<(int[] Context, int[] Continuation)> rows)
    {
        var request = new JsonObject
        {
            ["prompt"] = new JsonArray([.. rows.Select(r => (JsonNode)new JsonArray([.. r.Context.Concat(r.Continuation).Select(t => (JsonNode)t)]))]),
            ["max_tokens"] = scoringMaxTokens,
            ["echo"] = true,
            ["logprobs"] = 1,
            ["temperature"] = 0,
        };
        var answer = await client.CompleteAsync(request);
        var choices = Choices(answer, rows.Count);
        var results = new LogLikelihood[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            var (context, continuation) = rows[i];
            var logprobs = choices[i]["logprobs"] as JsonObject;
            var tokens = logprobs?["token_logprobs"] as JsonArray;
            var tops = logprobs?["top_logprobs"] as JsonArray;
            var length = context.Length + continuation.Length;
            if (tokens is null || tops is null || tokens.Count < length)
                throw new InvalidDataException(
                    $"{client.Endpoint.Display}: the API returned no prompt log-probabilities (choices[].logprobs.token_logprobs with echo and max_tokens {scoringMaxTokens}), " +
                    "so it cannot score loglikelihood, multiple-choice or perplexity tasks; generation tasks (generate_until) still work");
            // The echo starts with the prompt's first token; the continuation ends the prompt (a generated token may follow).
            double sum = 0;
            var greedy = true;
            var best = new System.Text.StringBuilder();
            for (var t = context.Length; t < length; t++)
            {
                var own = tokens[t] is JsonValue v && v.TryGetValue<double>(out var x) ? x
                    : throw new InvalidDataException($"{client.Endpoint.Display}: token_logprobs[{t}] is not a number");
                sum += own;
                var top = tops[t] as JsonObject;
                var (token, value) = top is { Count: > 0 } ? top.Select(p => (p.Key, p.Value!.GetValue<double>())).MaxBy(p => p.Item2) : ("", own);
                greedy &= own >= value;
                best.Append(token);
            }
            // The argmax tokens are known as text only; their ids are that text's encoding (for the examples' predictions).
            results[i] = new LogLikelihood(sum, greedy, continuation.Length, tokenizer.Encode(best.ToString()));
        }
        return results;
    }

    JsonObject[] Choices(JsonObject answer, int count)
    {
        var choices = answer["choices"] as JsonArray
            ?? throw new InvalidDataException($"{client.Endpoint.Display}: the answer has no 'choices'");
        var ordered = new JsonObject[count];
        for (var i = 0; i < choices.Count; i++)
        {
            var choice = choices[i] as JsonObject ?? throw new InvalidDataException($"{client.Endpoint.Display}: choices[{i}] is not an object");
            var index = choice["index"] is JsonValue v && v.TryGetValue<int>(out var k) ? k : i;
            if (index >= 0 && index < count) ordered[index] = choice;
        }
        for (var i = 0; i < count; i++)
            if (ordered[i] is null) throw new InvalidDataException($"{client.Endpoint.Display}: the answer lacks choice {i} of {count}");
        return ordered;
    }

    T Field<T>(JsonObject o, string name) =>
        o[name] is JsonValue v && v.TryGetValue<T>(out var value) ? value
        : throw new InvalidDataException($"{client.Endpoint.Display}: a choice has no '{name}'");
}
