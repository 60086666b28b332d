using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Model;

/// <summary>
/// The attention kernels: dense causal through libtorch's fused scaled-dot-product attention, and locally banded
/// attention computed chunk by chunk so that time and memory grow with T x window instead of T^2.
/// All take q, k, v as (B, nh, T, hs) and return (B, nh, T, hs).
/// </summary>
public static class Attention
{
    /// <summary>
    /// softmax(q k^T / sqrt(hs)) v through libtorch's fused kernel, which on the CPU never materialises the scores.
    /// k and v may be longer than q (a KV cache); a bool mask is true where a query may attend.
    /// </summary>
    public static Tensor Scaled(Tensor q, Tensor k, Tensor v, Tensor? mask, double dropout, bool causal) =>
        // TorchSharp spells the causal flag "is_casual"; it is called in this one place.
        F.scaled_dot_product_attention(q, k, v, mask, dropout, is_casual: causal);

    /// <summary>Causal attention of one layer over a whole sequence (training, or a prefill from an empty cache).</summary>
    public static Tensor Causal(Tensor q, Tensor k, Tensor v, LayerPattern pattern, double dropout)
    {
        if (pattern.Groups.Count == 1) return Group(q, k, v, pattern.Groups[0], dropout);
        return cat(pattern.Groups.Select(g =>
            Group(q.narrow(1, g.First, g.Count), k.narrow(1, g.First, g.Count), v.narrow(1, g.First, g.Count), g, dropout)).ToArray(), 1);
    }

    static Tensor Group(Tensor q, Tensor k, Tensor v, HeadGroup g, double dropout) => g.Pattern switch
    {
        // A band that covers the whole sequence is dense attention: take the fused causal kernel.
        HeadPattern.Dense => Scaled(q, k, v, mask: null, dropout, causal: true),
        HeadPattern.Band => q.shape[2] <= g.Size ? Scaled(q, k, v, null, dropout, causal: true) : LocalBlockwise(q, k, v, g.Size, dropout),
        HeadPattern.Every => SparsePatternKernels.EveryNth(q, k, v, g.Size, dropout),
        HeadPattern.Block => SparsePatternKernels.WithinBlocks(q, k, v, g.Size, dropout),
        HeadPattern.Summary => SparsePatternKernels.SummaryColumns(q, k, v, g.Size, g.Summary, dropout),
        _ => throw new ArgumentOutOfRangeException(nameof(g)),
    };

    /// <summary>
    /// Locally banded causal attention (query i sees keys i - window &lt; j &lt;= i), exact, in O(T x window) time and
    /// memory: see <see cref="LocalBandAttention"/>.
    /// </summary>
    public static Tensor LocalBlockwise(Tensor q, Tensor k, Tensor v, int window, double dropout) =>
        LocalBandAttention.Apply(q, k, v, window, dropout);

    /// <summary>(T, T) bool: query i may see key j when i - window &lt; j &lt;= i. For tests and reference only: it is T^2.</summary>
    public static Tensor BandMask(long T, int window, Device device)
    {
        var i = arange(T, device: device).unsqueeze(1);
        var j = arange(T, device: device).unsqueeze(0);
        return (j <= i).logical_and(j > i - window);
    }
}
