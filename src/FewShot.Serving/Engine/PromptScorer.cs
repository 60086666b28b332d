using FewShot.Model;
using static TorchSharp.torch;

namespace FewShot.Serving.Engine;

/// <summary>
/// Scores prompts for <c>echo</c> with <c>logprobs</c>: for every token after the first, log P(token | tokens before it)
/// and the most likely alternatives. Prompts that share a long prefix (the choices of a multiple-choice question, the
/// demonstrations of a few-shot prompt) are grouped: the prefix runs once into row 0 of a KV cache, the row is copied
/// to one row per prompt, and the rest of every prompt runs as one batch. Other prompts run longest first, right-padded,
/// as many rows per forward pass as the token budget allows. Runs on the scheduler thread (it owns the model).
/// </summary>
public static class PromptScorer
{
    /// <summary>One entry per prompt token; the first token's log-probability is null. <paramref name="onForward"/> is told of each forward pass.</summary>
    public static TokenLogprob[][] Score(Gpt model, IReadOnlyList<int[]> prompts, int top, int tokenBudget, Action? onForward = null)
    {
        var results = new TokenLogprob[prompts.Count][];
        foreach (var group in Groups(prompts))
        {
            if (group.Prefix >= 2 && group.Members.Count > 1)
            {
                // Rows of the shared-prefix cache are bounded by the budget too: each row holds the longest prompt.
                var longest = group.Members.Max(i => prompts[i].Length);
                var rows = Math.Max(1, tokenBudget / longest);
                foreach (var chunk in group.Members.Chunk(rows)) ScoreShared(model, prompts, chunk, group.Prefix, top, results, onForward);
            }
            else ScorePadded(model, prompts, group.Members, top, tokenBudget, results, onForward);
        }
        return results;
    }

    sealed record Group(List<int> Members, int Prefix);

    // Sorted lexicographically, neighbours share the longest prefixes. A prompt joins the current group while the
    // group's common prefix stays at least 2 tokens and at least half of the shortest member: sharing is then worth it.
    static List<Group> Groups(IReadOnlyList<int[]> prompts)
    {
        var order = Enumerable.Range(0, prompts.Count).OrderBy(i => prompts[i], Lexicographic.Instance).ToList();
        var groups = new List<Group>();
        var singles = new List<int>();
        List<int>? members = null;
        int prefix = 0, shortest = 0;
        void Close()
        {
            if (members is null) return;
            if (members.Count > 1) groups.Add(new Group(members, prefix));
            else singles.AddRange(members);
        }
        foreach (var i in order)
        {
            if (members is not null)
            {
                var shared = Common(prompts[members[0]], prompts[i], members.Count > 1 ? prefix : int.MaxValue);
                var shortestWith = Math.Min(shortest, prompts[i].Length);
                if (shared >= 2 && 2 * shared >= shortestWith)
                {
                    members.Add(i);
                    prefix = shared;
                    shortest = shortestWith;
                    continue;
                }
            }
            Close();
            members = [i];
            prefix = prompts[i].Length;
            shortest = prompts[i].Length;
        }
        Close();
        if (singles.Count > 0) groups.Add(new Group(singles, 0));
        return groups;
    }

    static int Common(int[] a, int[] b, int limit)
    {
        var n = Math.Min(Math.Min(a.Length, b.Length), limit);
        var i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }

    static void ScoreShared(Gpt model, IReadOnlyList<int[]> prompts, int[] members, int prefix, int top, TokenLogprob[][] results, Action? onForward)
    {
        // The prefix's last token is fed with the suffixes (so that its logits predict each prompt's next token): the
        // cache holds prefix - 1 tokens, and every row then feeds prompt[prefix - 1 .. len - 1).
        var device = model.parameters().First().device;
        using var scope = NewDisposeScope();
        var longest = members.Max(i => prompts[i].Length);
        using var cache = model.NewCache(members.Length, longest - 1);
        var head = prompts[members[0]][..(prefix - 1)];
        var headLogits = model.Forward(tensor(head.Select(t => (long)t).ToArray(), device: device).view(1, -1), cache.Rows(0, 1)); // (1, prefix - 1, V)
        onForward?.Invoke();
        for (var row = 1; row < members.Length; row++) cache.CopyRow(0, row);
        var headScores = Logprobs.Of(headLogits[0], prompts[members[0]][1..prefix], top); // tokens 1 .. prefix - 1

        var width = longest - prefix; // tokens fed per row: prompt[prefix - 1 .. len - 1)
        var padded = new long[members.Length, width];
        for (var b = 0; b < members.Length; b++)
        {
            var p = prompts[members[b]];
            for (var t = 0; t < p.Length - prefix; t++) padded[b, t] = p[prefix - 1 + t];
        }
        var tail = width > 0 ? model.Forward(tensor(padded, device: device), cache) : null; // (rows, width, V)
        if (tail is not null) onForward?.Invoke();
        for (var b = 0; b < members.Length; b++)
        {
            var p = prompts[members[b]];
            var rest = p.Length > prefix ? Logprobs.Of(tail![b].narrow(0, 0, p.Length - prefix), p[prefix..], top) : [];
            results[members[b]] = [First(p), .. headScores, .. rest];
        }
    }

    static void ScorePadded(Gpt model, IReadOnlyList<int[]> prompts, List<int> members, int top, int tokenBudget, TokenLogprob[][] results, Action? onForward)
    {
        var device = model.parameters().First().device;
        var ordered = members.OrderByDescending(i => prompts[i].Length).ToList();
        for (var start = 0; start < ordered.Count;)
        {
            var longest = Math.Max(1, prompts[ordered[start]].Length - 1);
            var rows = Math.Max(1, tokenBudget / longest);
            var batch = ordered.Skip(start).Take(rows).ToArray();
            start += batch.Length;
            var singles = batch.Where(i => prompts[i].Length == 1).ToArray();
            foreach (var i in singles) results[i] = [First(prompts[i])];
            batch = [.. batch.Where(i => prompts[i].Length > 1)];
            if (batch.Length == 0) continue;

            using var scope = NewDisposeScope();
            var padded = new long[batch.Length, longest];
            for (var b = 0; b < batch.Length; b++)
                for (var t = 0; t < prompts[batch[b]].Length - 1; t++) padded[b, t] = prompts[batch[b]][t];
            var logits = model.Forward(tensor(padded, device: device), cache: null); // (B, longest, V)
            onForward?.Invoke();
            for (var b = 0; b < batch.Length; b++)
            {
                var p = prompts[batch[b]];
                results[batch[b]] = [First(p), .. Logprobs.Of(logits[b].narrow(0, 0, p.Length - 1), p[1..], top)];
            }
        }
    }

    static TokenLogprob First(int[] prompt) => new(prompt[0], null, []);

    sealed class Lexicographic : IComparer<int[]>
    {
        public static readonly Lexicographic Instance = new();
        public int Compare(int[]? x, int[]? y) => x.AsSpan().SequenceCompareTo(y.AsSpan());
    }
}
