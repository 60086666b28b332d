using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Model;

/// <summary>
/// The attention kernels: dense causal through libtorch's fused scaled-dot-product attention, and locally banded
/// attention computed block by block so that time and memory grow with T x window instead of T^2.
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
    /// memory. The sequence is cut into blocks of W = window positions. Block n's queries can only see blocks n - 1
    /// and n, so every full block after the first is one small attention problem over a 2W-key span; those spans are
    /// overlapping windows of the key tensor, taken as strided views (no copies), and all of them go through one call of
    /// the fused kernel with one shared (W, 2W) mask. The first block (plain causal) and a final partial block are
    /// separate calls.
    /// </summary>
    public static Tensor LocalBlockwise(Tensor q, Tensor k, Tensor v, int window, double dropout)
    {
        var (B, H, T, D) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
        long W = window;
        var full = T / W;                                                        // full blocks
        var parts = new List<Tensor> { Scaled(q.narrow(2, 0, Math.Min(W, T)), k.narrow(2, 0, Math.Min(W, T)), v.narrow(2, 0, Math.Min(W, T)), null, dropout, causal: true) };

        if (full >= 2)
        {
            // Queries of blocks 1..full-1 as (B*H, full-1, W, D); key spans [(n-1)W, (n+1)W) as (B*H, full-1, 2W, D) views.
            var queries = q.narrow(2, W, (full - 1) * W).reshape(B * H, full - 1, W, D);
            Tensor Spans(Tensor x) => x.narrow(2, 0, full * W).unfold(2, 2 * W, W).transpose(-2, -1).reshape(B * H, full - 1, 2 * W, D);
            // Query a of a block sits at span offset W + a; it sees span keys c with a < c <= W + a.
            var a = arange(W, device: q.device).view(-1, 1);
            var c = arange(2 * W, device: q.device).view(1, -1);
            var mask = (c > a).logical_and(c <= a + W).view(1, 1, W, 2 * W);
            parts.Add(Scaled(queries, Spans(k), Spans(v), mask, dropout, causal: false).view(B, H, (full - 1) * W, D));
        }

        var tail = T - Math.Max(full, 1) * W;
        if (tail > 0)
        {
            // The last, partial block: queries [T - tail, T) over keys [T - tail - W, T).
            var start = T - tail - W;
            var query = arange(T - tail, T, device: q.device).view(-1, 1);
            var key = arange(start, T, device: q.device).view(1, -1);
            var mask = (key <= query).logical_and(key > query - W);
            parts.Add(Scaled(q.narrow(2, T - tail, tail), k.narrow(2, start, T - start), v.narrow(2, start, T - start), mask, dropout, causal: false));
        }
        return parts.Count == 1 ? parts[0] : cat(parts, 2);
    }

    /// <summary>(T, T) bool: query i may see key j when i - window &lt; j &lt;= i. For tests and reference only: it is T^2.</summary>
    public static Tensor BandMask(long T, int window, Device device)
    {
        var i = arange(T, device: device).unsqueeze(1);
        var j = arange(T, device: device).unsqueeze(0);
        return (j <= i).logical_and(j > i - window);
    }
}
