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
    public static Tensor Causal(Tensor q, Tensor k, Tensor v, AttentionKind kind, int window, double dropout)
    {
        var T = q.shape[2];
        // A window that covers the whole sequence is dense attention: take the fused causal kernel.
        return kind == AttentionKind.Dense || T <= window
            ? Scaled(q, k, v, mask: null, dropout, causal: true)
            : LocalBlockwise(q, k, v, window, dropout);
    }

    /// <summary>The block length for local attention with this window (a tuning choice; see docs/attention.md).</summary>
    public static int BlockSize(int window) => Math.Min(window, 128);

    /// <summary>
    /// Locally banded causal attention (query i sees keys i - window &lt; j &lt;= i), exact, in O(T x window):
    /// the sequence is cut into blocks of <see cref="BlockSize"/>; each query block attends only to itself and the m
    /// blocks before it that its window reaches, through one fused attention call over (B * blocks) small problems.
    /// </summary>
    public static Tensor LocalBlockwise(Tensor q, Tensor k, Tensor v, int window, double dropout, int? blockSize = null)
    {
        var (B, H, T, D) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
        long block = blockSize ?? BlockSize(window);
        var reach = (window - 1 + block - 1) / block;  // m: earlier blocks a query block can reach
        var blocks = (T + block - 1) / block;
        var pad = blocks * block - T;
        if (pad > 0)
        {
            q = F.pad(q, [0, 0, 0, pad]);
            k = F.pad(k, [0, 0, 0, pad]);
            v = F.pad(v, [0, 0, 0, pad]);
        }

        // Queries: (B, H, blocks * block, D) -> (B * blocks, H, block, D)
        var queries = q.view(B, H, blocks, block, D).transpose(1, 2).reshape(B * blocks, H, block, D);

        // Keys and values of each query block: the m blocks before it and itself, (B * blocks, H, (m + 1) block, D).
        Tensor Span(Tensor x)
        {
            var padded = F.pad(x.view(B, H, blocks, block, D), [0, 0, 0, 0, reach, 0]); // m empty blocks in front
            var shifted = Enumerable.Range(0, (int)reach + 1).Select(s => padded.narrow(2, s, blocks)).ToArray();
            return cat(shifted, 3).transpose(1, 2).reshape(B * blocks, H, (reach + 1) * block, D);
        }

        // Mask (blocks, 1, block, (m + 1) block): query position n*block + a, key position (n - m)*block + c.
        var n = arange(blocks, device: q.device).view(blocks, 1, 1);
        var queryPosition = n * block + arange(block, device: q.device).view(1, block, 1);
        var keyPosition = (n - reach) * block + arange((reach + 1) * block, device: q.device).view(1, 1, -1);
        var mask = (keyPosition <= queryPosition).logical_and(keyPosition > queryPosition - window).logical_and(keyPosition >= 0).unsqueeze(1);
        if (B > 1) mask = mask.repeat(B, 1, 1, 1);

        var y = Scaled(queries, Span(k), Span(v), mask, dropout, causal: false); // (B * blocks, H, block, D)
        return y.view(B, blocks, H, block, D).transpose(1, 2).reshape(B, H, blocks * block, D).narrow(2, 0, T);
    }

    /// <summary>(T, T) bool: query i may see key j when i - window &lt; j &lt;= i. For tests and reference only: it is T^2.</summary>
    public static Tensor BandMask(long T, int window, Device device)
    {
        var i = arange(T, device: device).unsqueeze(1);
        var j = arange(T, device: device).unsqueeze(0);
        return (j <= i).logical_and(j > i - window);
    }
}
