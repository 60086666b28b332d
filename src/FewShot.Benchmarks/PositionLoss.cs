using FewShot.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Benchmarks;

/// <summary>
/// Mean cross-entropy at each position of the context, over windows of n_ctx + 1 tokens: how much a model gains from
/// seeing further back. A local-only model's curve flattens once the position passes its window; a model with dense
/// layers keeps improving.
/// </summary>
public static class PositionLoss
{
    /// <summary>Returns (mean loss, loss per position) over <paramref name="windows"/>, each n_ctx + 1 token ids.</summary>
    public static (double Mean, double[] PerPosition) Compute(Gpt model, IEnumerable<long[]> windows)
    {
        var context = model.Config.ContextLength;
        var sums = new double[context];
        var count = 0;
        model.eval();
        using var _ = no_grad();
        foreach (var window in windows)
        {
            if (window.Length != context + 1) throw new ArgumentException($"a window has {window.Length} tokens; the model needs n_ctx + 1 = {context + 1}");
            using var scope = NewDisposeScope();
            var ids = tensor(window.AsSpan(0, context).ToArray()).unsqueeze(0);
            var targets = tensor(window.AsSpan(1, context).ToArray());
            var losses = F.cross_entropy(model.forward(ids)[0], targets, reduction: nn.Reduction.None).data<float>().ToArray();
            for (var t = 0; t < context; t++) sums[t] += losses[t];
            count++;
        }
        if (count == 0) throw new ArgumentException("no validation windows to measure");
        var perPosition = sums.Select(s => s / count).ToArray();
        return (perPosition.Average(), perPosition);
    }
}
