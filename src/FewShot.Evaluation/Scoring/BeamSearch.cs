using FewShot.Model;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Evaluation.Scoring;

/// <summary>
/// Beam search as GPT-3 decodes free-form answers (Section 2.4: width 4, length penalty 0.6). Beams live in rows of a
/// KV cache; surviving beams are moved into place by copying rows through spare rows. Alive beams are ranked by total
/// log-probability; finished ones by log-probability / ((5 + length) / 6)^alpha (GNMT's length penalty). A beam
/// finishes at end-of-text, at a stop sequence (cut before it), or at the token limit; with width 1 this is greedy.
/// </summary>
public static class BeamSearch
{
    sealed record Beam(List<int> Tokens, double Score, int Row);

    public static string Run(Gpt model, ITokenizer tokenizer, int[] prompt, IReadOnlyList<string> stop, int maxNewTokens, int width, double lengthPenalty)
    {
        if (width < 1) throw new ArgumentException($"beam width must be at least 1, got {width}");
        if (maxNewTokens == 0) return "";
        if (prompt.Length >= model.Config.ContextLength)
            throw new ArgumentException($"a prompt of {prompt.Length} tokens leaves no room to generate in a context of {model.Config.ContextLength}");
        var capacity = Math.Min(model.Config.ContextLength, prompt.Length + maxNewTokens);
        var device = model.parameters().First().device;
        using var cache = model.NewCache(2 * width, capacity); // rows [0, width) hold beams, [width, 2 width) are spare
        var logits = model.Forward(tensor(prompt.Select(i => (long)i).ToArray(), device: device).view(1, -1), cache.Rows(0, 1), lastOnly: true)[.., -1];

        var alive = new List<Beam> { new([], 0, 0) };
        var finished = new List<(string Text, double Score)>();
        double Normalised(double score, int length) => score / Math.Pow((5.0 + length) / 6.0, lengthPenalty);

        while (alive.Count > 0)
        {
            using var logp = F.log_softmax(logits.to(ScalarType.Float32), -1); // (beams, V)
            var (values, indices) = logp.topk(Math.Min(2 * width, (int)logp.shape[1]), dim: -1);
            var scores = values.cpu().data<float>().ToArray();
            var tokens = indices.cpu().data<long>().ToArray();
            var k = (int)values.shape[1];

            var candidates = new List<(Beam Parent, int Token, double Score)>();
            for (var b = 0; b < alive.Count; b++)
                for (var j = 0; j < k; j++) candidates.Add((alive[b], (int)tokens[b * k + j], alive[b].Score + scores[b * k + j]));

            var next = new List<(Beam Parent, int Token, double Score)>();
            foreach (var c in candidates.OrderByDescending(c => c.Score)) // stable: ties keep the argmax order
            {
                if (next.Count == width) break;
                var generated = new List<int>(c.Parent.Tokens) { c.Token };
                if (c.Token == tokenizer.EndOfText) { finished.Add((tokenizer.Decode(c.Parent.Tokens), Normalised(c.Score, generated.Count))); continue; }
                var text = tokenizer.Decode(generated);
                var cut = stop.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
                if (cut >= 0) { finished.Add((text[..cut], Normalised(c.Score, generated.Count))); continue; }
                if (generated.Count >= maxNewTokens || prompt.Length + generated.Count >= capacity)
                {
                    finished.Add((text, Normalised(c.Score, generated.Count)));
                    continue;
                }
                next.Add(c);
            }
            if (finished.Count >= width || next.Count == 0) break;

            // Move each surviving beam's parent cache row into row i (through the spare rows, since parents may repeat).
            for (var i = 0; i < next.Count; i++) cache.CopyRow(next[i].Parent.Row, width + i);
            for (var i = 0; i < next.Count; i++) cache.CopyRow(width + i, i);
            alive = [.. next.Select((c, i) => new Beam([.. c.Parent.Tokens, c.Token], c.Score, i))];
            var input = tensor(next.Select(c => (long)c.Token).ToArray(), device: device).view(-1, 1);
            logits = model.Forward(input, cache.Rows(0, next.Count), lastOnly: true)[.., -1];
        }
        return finished.Count == 0 ? "" : finished.MaxBy(f => f.Score).Text;
    }
}
