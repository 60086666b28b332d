using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FewShot.Model.Inference;

/// <summary>
/// F32 weights in panels: a group of up to <see cref="GroupRows"/> output rows stored column by column, so that input
/// column i's weights of the group's rows sit side by side (element (r, i) at i * width + r, width the group's rows).
/// One 512-bit load then holds 16 outputs' weights, each input value is broadcast, and a product is FMAs with no
/// horizontal sums; a thread reads its panels as one sequential stream. Against row-major rows with one dot product
/// per row (the layout before), on one thread (docs/performance.md): eight inputs 75-92 GFLOP/s against
/// 24-48 from memory and ~116 against 45-60 in L2; one input 21-24 GB/s against 17-22 from memory.
/// Every output is summed in the same order whatever its place in a group, on the vector and the scalar path alike,
/// so that where a matrix is cut into groups (one buffer, or pieces for threads) never changes a result's bits.
/// </summary>
public static unsafe class PanelKernels
{
    /// <summary>Rows per full group: two 512-bit vectors of outputs.</summary>
    public const int GroupRows = 32;

    /// <summary>Inputs one pass over a group serves (accumulators: 2 per input).</summary>
    public const int InputBlock = 8;

    /// <summary>Writes rows [0, rows) of row-major values (rows, columns) as panels: full groups, then one of the rest.</summary>
    public static void Pack(ReadOnlySpan<float> values, int rows, int columns, float* to)
    {
        for (var g = 0; g < rows; g += GroupRows)
        {
            var width = Math.Min(GroupRows, rows - g);
            var panel = to + (long)g * columns;
            for (var r = 0; r < width; r++)
            {
                var row = values.Slice((g + r) * columns, columns);
                for (var i = 0; i < columns; i++) panel[(long)i * width + r] = row[i];
            }
        }
    }

    /// <summary>
    /// y[t, r] (+)= bias[r] + sum_i W[r, i] x[t, i] for the group's rows r &lt; width and inputs t &lt; count (&lt;=
    /// <see cref="InputBlock"/>): y (count, yStride) and bias start at the group's first row; bias may be null.
    /// One input sums in four interleaved parts, ((i = 0 mod 4) + (1 mod 4)) + ((2 mod 4) + (3 mod 4)), for the FMA
    /// latency; several inputs sum each input in column order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(float* panel, int width, int columns, float* x, int count, float* y, long yStride, float* bias, bool accumulate)
    {
        if (Kernels.UseVectors && width == GroupRows)
        {
            if (count == 1) One(panel, columns, x, y, bias, accumulate);
            else Several(panel, columns, x, count, y, yStride, bias, accumulate);
            return;
        }
        for (var r = 0; r < width; r++)
            for (var t = 0; t < count; t++)
            {
                var xt = x + (long)t * columns;
                var sum = count == 1 ? FourPartSum(panel + r, width, columns, xt) : OrderedSum(panel + r, width, columns, xt);
                Store(y + t * yStride + r, sum, bias == null ? 0f : bias[r], bias != null, accumulate);
            }
    }

    // The scalar forms of the two orders (one output, weights `stride` apart).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float FourPartSum(float* w, int stride, int columns, float* x)
    {
        float c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        var i = 0;
        for (; i + 4 <= columns; i += 4)
        {
            c0 = MathF.FusedMultiplyAdd(w[(long)i * stride], x[i], c0);
            c1 = MathF.FusedMultiplyAdd(w[(long)(i + 1) * stride], x[i + 1], c1);
            c2 = MathF.FusedMultiplyAdd(w[(long)(i + 2) * stride], x[i + 2], c2);
            c3 = MathF.FusedMultiplyAdd(w[(long)(i + 3) * stride], x[i + 3], c3);
        }
        for (; i < columns; i++) c0 = MathF.FusedMultiplyAdd(w[(long)i * stride], x[i], c0);
        return (c0 + c1) + (c2 + c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float OrderedSum(float* w, int stride, int columns, float* x)
    {
        var sum = 0f;
        for (var i = 0; i < columns; i++) sum = MathF.FusedMultiplyAdd(w[(long)i * stride], x[i], sum);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* at, float sum, float bias, bool hasBias, bool accumulate)
    {
        var value = hasBias ? sum + bias : sum;
        *at = accumulate ? *at + value : value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* at, Vector512<float> sum, float* bias, bool accumulate)
    {
        var value = bias == null ? sum : sum + Vector512.Load(bias);
        (accumulate ? Vector512.Load(at) + value : value).Store(at);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void One(float* panel, int columns, float* x, float* y, float* bias, bool accumulate)
    {
        Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default, a3 = default, b3 = default;
        var i = 0;
        for (; i + 4 <= columns; i += 4)
        {
            var w = panel + (long)i * GroupRows;
            var (x0, x1, x2, x3) = (Vector512.Create(x[i]), Vector512.Create(x[i + 1]), Vector512.Create(x[i + 2]), Vector512.Create(x[i + 3]));
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(w), x0, a0); b0 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + 16), x0, b0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + 32), x1, a1); b1 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + 48), x1, b1);
            a2 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + 64), x2, a2); b2 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + 80), x2, b2);
            a3 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + 96), x3, a3); b3 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + 112), x3, b3);
        }
        for (; i < columns; i++)
        {
            var w = panel + (long)i * GroupRows;
            var xi = Vector512.Create(x[i]);
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(w), xi, a0); b0 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + 16), xi, b0);
        }
        Store(y, (a0 + a1) + (a2 + a3), bias, accumulate);
        Store(y + 16, (b0 + b1) + (b2 + b3), bias == null ? null : bias + 16, accumulate);
    }

    // Two to eight inputs: 16 accumulators (inputs past count read input 0; their sums are dropped).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Several(float* panel, int columns, float* x, int count, float* y, long yStride, float* bias, bool accumulate)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        float* Input(int t) => x + (t < count ? (long)t * columns : 0);
        float* x1 = Input(1), x2 = Input(2), x3 = Input(3), x4 = Input(4), x5 = Input(5), x6 = Input(6), x7 = Input(7);
        for (var i = 0; i < columns; i++)
        {
            var w = panel + (long)i * GroupRows;
            var (u, v) = (Vector512.Load(w), Vector512.Load(w + 16));
            var q = Vector512.Create(x[i]); a0 = Avx512F.FusedMultiplyAdd(u, q, a0); b0 = Avx512F.FusedMultiplyAdd(v, q, b0);
            q = Vector512.Create(x1[i]); a1 = Avx512F.FusedMultiplyAdd(u, q, a1); b1 = Avx512F.FusedMultiplyAdd(v, q, b1);
            q = Vector512.Create(x2[i]); a2 = Avx512F.FusedMultiplyAdd(u, q, a2); b2 = Avx512F.FusedMultiplyAdd(v, q, b2);
            q = Vector512.Create(x3[i]); a3 = Avx512F.FusedMultiplyAdd(u, q, a3); b3 = Avx512F.FusedMultiplyAdd(v, q, b3);
            q = Vector512.Create(x4[i]); a4 = Avx512F.FusedMultiplyAdd(u, q, a4); b4 = Avx512F.FusedMultiplyAdd(v, q, b4);
            q = Vector512.Create(x5[i]); a5 = Avx512F.FusedMultiplyAdd(u, q, a5); b5 = Avx512F.FusedMultiplyAdd(v, q, b5);
            q = Vector512.Create(x6[i]); a6 = Avx512F.FusedMultiplyAdd(u, q, a6); b6 = Avx512F.FusedMultiplyAdd(v, q, b6);
            q = Vector512.Create(x7[i]); a7 = Avx512F.FusedMultiplyAdd(u, q, a7); b7 = Avx512F.FusedMultiplyAdd(v, q, b7);
        }
        var upper = bias == null ? null : bias + 16;
        Store(y, a0, bias, accumulate); Store(y + 16, b0, upper, accumulate);
        Store(y + yStride, a1, bias, accumulate); Store(y + yStride + 16, b1, upper, accumulate);
        if (count > 2) { Store(y + 2 * yStride, a2, bias, accumulate); Store(y + 2 * yStride + 16, b2, upper, accumulate); }
        if (count > 3) { Store(y + 3 * yStride, a3, bias, accumulate); Store(y + 3 * yStride + 16, b3, upper, accumulate); }
        if (count > 4) { Store(y + 4 * yStride, a4, bias, accumulate); Store(y + 4 * yStride + 16, b4, upper, accumulate); }
        if (count > 5) { Store(y + 5 * yStride, a5, bias, accumulate); Store(y + 5 * yStride + 16, b5, upper, accumulate); }
        if (count > 6) { Store(y + 6 * yStride, a6, bias, accumulate); Store(y + 6 * yStride + 16, b6, upper, accumulate); }
        if (count > 7) { Store(y + 7 * yStride, a7, bias, accumulate); Store(y + 7 * yStride + 16, b7, upper, accumulate); }
    }
}
