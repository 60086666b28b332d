using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FewShot.Model.Inference;

/// <summary>
/// Float32 to bfloat16 and back on raw pointers, for mixed-precision products (<see cref="MatrixPrecision.BFloat16"/>).
/// A bfloat16 is the top half of a float32: rounding keeps the top 16 bits, to nearest with ties to even, bit for bit
/// as libtorch converts its tensors (a NaN becomes 0xFFFF, as in libtorch's vectorised conversion); widening appends
/// 16 zero bits, exactly. libtorch's own conversions run on AVX2 and took ~7% of a mixed-precision Shakespeare step;
/// these take 32 floats per 512-bit step. Scalar paths compute the same bits (<see cref="Kernels.UseVectors"/>).
/// </summary>
public static unsafe class BFloat16Kernels
{
    /// <summary>target[i] = bfloat16(source[i]) for n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Round(float* source, ushort* target, long n)
    {
        long i = 0;
        if (Kernels.UseVectors)
            for (; i + 32 <= n; i += 32)
                Vector512.Narrow(RoundedBits(Vector512.Load(source + i)), RoundedBits(Vector512.Load(source + i + 16))).Store(target + i);
        for (; i < n; i++) target[i] = Round(source[i]);
    }

    /// <summary>target (rows, columns) = float(source (rows, columns)) + bias (columns; null for none).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Widen(ushort* source, float* target, float* bias, long rows, int columns)
    {
        for (long r = 0; r < rows; r++)
        {
            var from = source + r * columns;
            var to = target + r * columns;
            var c = 0;
            if (Kernels.UseVectors)
                for (; c + 32 <= columns; c += 32)
                {
                    var bits = Vector512.Load(from + c);
                    var (low, high) = (Vector512.WidenLower(bits) << 16, Vector512.WidenUpper(bits) << 16);
                    var (lowBias, highBias) = bias is null ? (default, default) : (Vector512.Load(bias + c), Vector512.Load(bias + c + 16));
                    (low.AsSingle() + lowBias).Store(to + c);
                    (high.AsSingle() + highBias).Store(to + c + 16);
                }
            for (; c < columns; c++) to[c] = Widen(from[c]) + (bias is null ? 0f : bias[c]);
        }
    }

    /// <summary>The 16 top bits of each float, rounded to nearest even, in the low half of each 32-bit lane.</summary>
    static Vector512<uint> RoundedBits(Vector512<float> x)
    {
        var bits = x.AsUInt32();
        var rounded = (bits + (((bits >> 16) & Vector512<uint>.One) + Vector512.Create(0x7FFFu))) >> 16;
        var nan = ~Vector512.Equals(x, x).AsUInt32();
        return Vector512.ConditionalSelect(nan, Vector512.Create(NaN), rounded);
    }

    const uint NaN = 0xFFFF;

    public static ushort Round(float x)
    {
        if (float.IsNaN(x)) return (ushort)NaN;
        var bits = BitConverter.SingleToUInt32Bits(x);
        return (ushort)((bits + ((bits >> 16) & 1) + 0x7FFF) >> 16);
    }

    public static float Widen(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
