using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FewShot.Model.Inference;

/// <summary>
/// Single-threaded float32 matrix products for the small matrices of small models, where libtorch's sgemm (MKL's
/// generic path on this AMD CPU: packing, output scaling and AVX2 kernels) reached ~95 GFLOP/s on one core and this
/// register-tiled AVX-512 loop ~113 (a 384 x 128 x 384 product, quiet machine). Used by <see cref="FusedLinear"/>.
/// </summary>
public static unsafe class Gemm
{
    /// <summary>Widths the kernels work in: the output's columns must be a multiple of this.</summary>
    public const int ColumnMultiple = 16;

    /// <summary>Whether this CPU runs the kernels (AVX-512); otherwise callers take libtorch's product.</summary>
    public static bool IsSupported => Vector512.IsHardwareAccelerated;

    /// <summary>
    /// C (m x n) = A (m x k) B (k x n) [+ bias broadcast over rows], or C += that when <paramref name="accumulate"/>.
    /// C is row-major (row stride ldc). A's element (i, p) is a[i * aRowStride + p * aColumnStride] and B's element
    /// (p, j) is b[p * bRowStride + j * bColumnStride], so either may be a transposed matrix read in place (a linear
    /// layer's x W^T passes W with strides (1, in)). n must be a multiple of <see cref="ColumnMultiple"/>.
    /// </summary>
    public static void Multiply(int m, int n, int k, float* a, long aRowStride, long aColumnStride,
        float* b, long bRowStride, long bColumnStride, float* c, long ldc, float* bias, bool accumulate)
    {
        if (n % ColumnMultiple != 0) throw new ArgumentException($"n = {n} is not a multiple of {ColumnMultiple}", nameof(n));
        fixed (float* panel = PanelBuffer(k))
        {
            for (var column = 0; column < n; column += 32)
            {
                // B's columns [column, column + width) packed as k contiguous rows of width floats: read from L1
                // without the cache-set conflicts that rows 1.5-2 KB apart cause, whatever B's own layout.
                var width = Math.Min(32, n - column);
                Pack(b + column * bColumnStride, k, width, bRowStride, bColumnStride, panel);
                var row = 0;
                if (width == 32)
                {
                    for (; row + 6 <= m; row += 6)
                        Tile6x32(k, a + row * aRowStride, aRowStride, aColumnStride, panel, c + row * ldc + column, ldc, Bias(bias, column), accumulate);
                    if (row + 4 <= m)
                    {
                        Tile4x32(k, a + row * aRowStride, aRowStride, aColumnStride, panel, c + row * ldc + column, ldc, Bias(bias, column), accumulate);
                        row += 4;
                    }
                }
                for (; row < m; row++)
                    Row(k, width / 16, a + row * aRowStride, aColumnStride, panel, width, c + row * ldc + column, Bias(bias, column), accumulate);
            }
        }
    }

    [ThreadStatic] static float[]? panelBuffer;

    static float[] PanelBuffer(int k)
    {
        if (panelBuffer is null || panelBuffer.Length < k * 32) panelBuffer = new float[Math.Max(k, 64) * 32];
        return panelBuffer;
    }

    /// <summary>panel[p * width + j] = B(p, j) for p &lt; k, j &lt; width (16 or 32).</summary>
    static void Pack(float* b, int k, int width, long rowStride, long columnStride, float* panel)
    {
        if (columnStride == 1)
        {
            for (var p = 0; p < k; p++, b += rowStride, panel += width)
            {
                Vector512.Load(b).Store(panel);
                if (width == 32) Vector512.Load(b + 16).Store(panel + 16);
            }
            return;
        }
        // A transposed B: each of its columns is contiguous in memory (stride rowStride, usually 1).
        for (var j = 0; j < width; j++)
        {
            var source = b + j * columnStride;
            for (var p = 0; p < k; p++) panel[p * width + j] = source[p * rowStride];
        }
    }

    static float* Bias(float* bias, int column) => bias == null ? null : bias + column;

    /// <summary>
    /// 6 rows x 32 columns: 12 accumulators, and per step of p two loads of B and six broadcasts of A for 12 FMAs.
    /// Zen 4 retires one 512-bit FMA a cycle, so this runs at the core's peak once B's panel is in cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile6x32(int k, float* a, long rs, long cs, float* b, float* c, long ldc, float* bias, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs, a4 = a + 4 * rs, a5 = a + 5 * rs;
        for (long p = 0, offset = 0; p < k; p++, offset += cs, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a0[offset]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a1[offset]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a2[offset]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[offset]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a4[offset]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a5[offset]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
        }
        var bias1 = Bias(bias, 16);
        Store(c, c00, bias, accumulate); Store(c + 16, c01, bias1, accumulate);
        Store(c + ldc, c10, bias, accumulate); Store(c + ldc + 16, c11, bias1, accumulate);
        Store(c + 2 * ldc, c20, bias, accumulate); Store(c + 2 * ldc + 16, c21, bias1, accumulate);
        Store(c + 3 * ldc, c30, bias, accumulate); Store(c + 3 * ldc + 16, c31, bias1, accumulate);
        Store(c + 4 * ldc, c40, bias, accumulate); Store(c + 4 * ldc + 16, c41, bias1, accumulate);
        Store(c + 5 * ldc, c50, bias, accumulate); Store(c + 5 * ldc + 16, c51, bias1, accumulate);
    }

    /// <summary>4 rows x 32 columns: what is left of 64 rows after 6-row tiles (the attention's sequences).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile4x32(int k, float* a, long rs, long cs, float* b, float* c, long ldc, float* bias, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        float* a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs;
        for (long p = 0, offset = 0; p < k; p++, offset += cs, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a0[offset]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a1[offset]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a2[offset]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[offset]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
        }
        var bias1 = Bias(bias, 16);
        Store(c, c00, bias, accumulate); Store(c + 16, c01, bias1, accumulate);
        Store(c + ldc, c10, bias, accumulate); Store(c + ldc + 16, c11, bias1, accumulate);
        Store(c + 2 * ldc, c20, bias, accumulate); Store(c + 2 * ldc + 16, c21, bias1, accumulate);
        Store(c + 3 * ldc, c30, bias, accumulate); Store(c + 3 * ldc + 16, c31, bias1, accumulate);
    }

    /// <summary>One row of A against one or two 16-column vectors of B: the rows left over from the 6-row tiles.</summary>
    static void Row(int k, int vectors, float* a, long cs, float* b, long ldb, float* c, float* bias, bool accumulate)
    {
        Vector512<float> c0 = default, c1 = default;
        for (long p = 0, offset = 0; p < k; p++, offset += cs, b += ldb)
        {
            var x = Vector512.Create(a[offset]);
            c0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b), c0);
            if (vectors == 2) c1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 16), c1);
        }
        Store(c, c0, bias, accumulate);
        if (vectors == 2) Store(c + 16, c1, Bias(bias, 16), accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* c, Vector512<float> sum, float* bias, bool accumulate)
    {
        if (accumulate) sum += Vector512.Load(c);
        if (bias != null) sum += Vector512.Load(bias);
        sum.Store(c);
    }
}
