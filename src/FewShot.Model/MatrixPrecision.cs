using System.Runtime.Intrinsics.X86;

namespace FewShot.Model;

/// <summary>
/// The number format of a model's linear layers' matrix products. Float32 everywhere by default. BFloat16 is mixed
/// precision as GPT-3 trained: the weights, their gradients, the optimizer and every other operation stay float32,
/// and only the inputs of the products (x W^T, dY W, dY^T X) are rounded to bfloat16, accumulated in float32 by
/// libtorch's oneDNN kernels. On a CPU with AVX512-BF16 (AMD Zen 4 and later; Intel Xeons from Cooper Lake) those run at twice
/// the float32 rate: measured on this machine's Zen 4 core, (384 x 128) x (128 x 384) takes 188 us against 379 us.
/// </summary>
public enum MatrixPrecision
{
    Float32,
    BFloat16,
}

public static class MatrixPrecisions
{
    /// <summary>The names a recipe and the command line use: fp32, bf16.</summary>
    public const string Names = "fp32 or bf16";

    public static bool IsKnown(string name) => name is "fp32" or "bf16";

    public static MatrixPrecision Parse(string name) => name switch
    {
        "fp32" => MatrixPrecision.Float32,
        "bf16" => MatrixPrecision.BFloat16,
        _ => throw new ArgumentException($"must be {Names}, got '{name}'"),
    };

    /// <summary>
    /// Whether this CPU has AVX512-BF16 (CPUID leaf 7, sub-leaf 1, EAX bit 5). Without it libtorch still computes
    /// bfloat16 products, but by converting to float32 first: slower than float32 throughout, never faster.
    /// </summary>
    public static bool CpuHasBFloat16 { get; } = X86Base.IsSupported && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;
}
