using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Serving.Engine;

/// <summary>One of the most likely tokens at a position, with its log-probability.</summary>
public readonly record struct TopToken(int Id, double Logprob);

/// <summary>
/// A token with its log-probability under the model (null for a prompt's first token, which nothing predicts) and the
/// <c>top</c> most likely tokens at its position. Log-probabilities are the model's own distribution (log-softmax of
/// its logits), before temperature, top-p or logit_bias - the numbers a scoring client needs.
/// </summary>
public sealed record TokenLogprob(int Id, double? Logprob, TopToken[] Top);

/// <summary>Reads token log-probabilities out of logits.</summary>
public static class Logprobs
{
    /// <summary>Most alternatives a request may ask for per position (OpenAI's completions allow 5, chat 20).</summary>
    public const int MaxTop = 20;

    /// <summary>steps (N, V): step i's distribution; targets (N): the token each step produced -> N entries.</summary>
    public static TokenLogprob[] Of(Tensor steps, IReadOnlyList<int> targets, int top)
    {
        using var scope = NewDisposeScope();
        var logp = F.log_softmax(steps.to(ScalarType.Float32), -1); // (N, V)
        var index = tensor(targets.Select(t => (long)t).ToArray(), device: steps.device).view(-1, 1);
        var picked = logp.gather(1, index).view(-1).cpu().data<float>().ToArray();
        float[] topValues = [];
        long[] topIds = [];
        if (top > 0)
        {
            var (values, ids) = logp.topk(Math.Min(top, (int)logp.shape[1]), dim: -1); // (N, top), most likely first
            topValues = values.cpu().data<float>().ToArray();
            topIds = ids.cpu().data<long>().ToArray();
        }
        var result = new TokenLogprob[targets.Count];
        for (var i = 0; i < targets.Count; i++)
        {
            var alternatives = new TopToken[top];
            for (var j = 0; j < top; j++) alternatives[j] = new TopToken((int)topIds[i * top + j], topValues[i * top + j]);
            result[i] = new TokenLogprob(targets[i], picked[i], alternatives);
        }
        return result;
    }
}
