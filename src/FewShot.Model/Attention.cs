using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Model;

/// <summary>The attention kernels and masks shared by the model and its KV cache.</summary>
public static class Attention
{
    /// <summary>
    /// softmax(q k^T / sqrt(hs)) v through libtorch's fused scaled-dot-product attention, which on the CPU never
    /// materialises the T x T scores. q (B, nh, Tq, hs), k and v (B, nh, S, hs); a bool mask is true where a query may attend.
    /// </summary>
    public static Tensor Scaled(Tensor q, Tensor k, Tensor v, Tensor? mask, double dropout, bool causal) =>
        // TorchSharp spells the causal flag "is_casual"; it is called in this one place.
        F.scaled_dot_product_attention(q, k, v, mask, dropout, is_casual: causal);

    /// <summary>(T, T) bool: query i may see key j when i - window &lt; j &lt;= i.</summary>
    public static Tensor BandMask(long T, int window, Device device)
    {
        var i = arange(T, device: device).unsqueeze(1);
        var j = arange(T, device: device).unsqueeze(0);
        return (j <= i).logical_and(j > i - window);
    }
}
