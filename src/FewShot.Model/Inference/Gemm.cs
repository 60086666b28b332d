using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FewShot.Model.Inference;

/// <summary>
/// Single-threaded float32 matrix products for the small matrices of small models, where libtorch's sgemm (MKL's
/// generic path on this AMD CPU: packing, output scaling and AVX2 kernels) reached ~95 GFLOP/s on one core and this
/// register-tiled AVX-512 loop ~113 (a 384 x 128 x 384 product, quiet machine). Used by <see cref="FusedLinear"/> and
/// <see cref="FusedAttention"/>.
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
                var source = b + column * bColumnStride;
                var ldb = bRowStride;
                if (bColumnStride != 1 || m >= PackRowMajorFrom)
                {
                    Pack(source, k, width, bRowStride, bColumnStride, panel, PanelStride);
                    source = panel;
                    ldb = PanelStride;
                }
                var row = 0;
                if (width == 32)
                {
                    for (; row + 6 <= m; row += 6)
                        Tile6x32(k, a + row * aRowStride, aRowStride, aColumnStride, source, ldb, c + row * ldc + column, ldc, Bias(bias, column), accumulate);
                    if (row + 4 <= m)
                    {
                        Tile4x32(k, a + row * aRowStride, aRowStride, aColumnStride, source, ldb, c + row * ldc + column, ldc, Bias(bias, column), accumulate);
                        row += 4;
                    }
                }
                for (; row < m; row++)
                    Row(k, width / 16, a + row * aRowStride, aColumnStride, source, ldb, c + row * ldc + column, Bias(bias, column), accumulate);
            }
        }
    }

    /// <summary>
    /// Rows of C from which a row-major B is packed too. Measured on one core: 384 x 128 x 384 ran at ~112 GFLOP/s
    /// reading B in place and ~98 packed; 8192 x 512 x 128 at ~55 in place and ~82 packed (its panel is reused by
    /// 1,365 tiles, and rows of B far apart in memory keep evicting each other from L1).
    /// </summary>
    const int PackRowMajorFrom = 1024;

    [ThreadStatic] static float[]? panelBuffer;

    static float[] PanelBuffer(int k)
    {
        if (panelBuffer is null || panelBuffer.Length < k * PanelStride) panelBuffer = new float[Math.Max(k, 64) * PanelStride];
        return panelBuffer;
    }

    /// <summary>Floats from one packed row of B to the next: 32, plus 16 that keep rows off each other's cache sets.</summary>
    const int PanelStride = 48;

    /// <summary>panel[p * stride + j] = B(p, j) for p &lt; k, j &lt; width (16 or 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Pack(float* b, int k, int width, long rowStride, long columnStride, float* panel, int stride)
    {
        if (columnStride == 1)
        {
            for (var p = 0; p < k; p++, b += rowStride, panel += stride)
            {
                Vector512.Load(b).Store(panel);
                if (width == 32) Vector512.Load(b + 16).Store(panel + 16);
            }
            return;
        }
        var p0 = 0;
        if (rowStride == 1 && Avx.IsSupported)
        {
            // A transposed B (a weight W read as W^T): 8 x 8 blocks transposed in registers.
            for (; p0 + 8 <= k; p0 += 8)
                for (var j = 0; j < width; j += 8)
                    Transpose8x8(b + j * columnStride + p0, columnStride, panel + p0 * stride + j, stride);
        }
        for (var j = 0; j < width; j++) // what is left, or any other layout
        {
            var source = b + j * columnStride;
            for (var p = p0; p < k; p++) panel[p * stride + j] = source[p * rowStride];
        }
    }

    /// <summary>
    /// to[c * toStride + r] = from[r * fromStride + c] for r &lt; rows, c &lt; cols: 8 x 8 blocks in registers, the
    /// edges one by one.
    /// </summary>
    public static void Transpose(float* from, int rows, int cols, long fromStride, float* to, long toStride)
    {
        var (fullRows, fullCols) = (rows / 8 * 8, cols / 8 * 8);
        for (var r = 0; r < fullRows; r += 8)
            for (var c = 0; c < fullCols; c += 8)
                Transpose8x8(from + r * fromStride + c, fromStride, to + c * toStride + r, toStride);
        for (var c = 0; c < cols; c++)
            for (var r = c < fullCols ? fullRows : 0; r < rows; r++)
                to[c * toStride + r] = from[r * fromStride + c];
    }

    /// <summary>to[r * toStride + c] = from[c * fromStride + r] for an 8 x 8 block.</summary>
    static void Transpose8x8(float* from, long fromStride, float* to, long toStride)
    {
        var r0 = Vector256.Load(from); var r1 = Vector256.Load(from + fromStride);
        var r2 = Vector256.Load(from + 2 * fromStride); var r3 = Vector256.Load(from + 3 * fromStride);
        var r4 = Vector256.Load(from + 4 * fromStride); var r5 = Vector256.Load(from + 5 * fromStride);
        var r6 = Vector256.Load(from + 6 * fromStride); var r7 = Vector256.Load(from + 7 * fromStride);
        // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves swapped across.
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1); var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5); var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE); var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE); var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(u0, u4, 0x20).Store(to);
        Avx.Permute2x128(u1, u5, 0x20).Store(to + toStride);
        Avx.Permute2x128(u2, u6, 0x20).Store(to + 2 * toStride);
        Avx.Permute2x128(u3, u7, 0x20).Store(to + 3 * toStride);
        Avx.Permute2x128(u0, u4, 0x31).Store(to + 4 * toStride);
        Avx.Permute2x128(u1, u5, 0x31).Store(to + 5 * toStride);
        Avx.Permute2x128(u2, u6, 0x31).Store(to + 6 * toStride);
        Avx.Permute2x128(u3, u7, 0x31).Store(to + 7 * toStride);
    }

    static float* Bias(float* bias, int column) => bias == null ? null : bias + column;

    /// <summary>
    /// 6 rows x 32 columns: 12 accumulators, and per step of p two loads of B and six broadcasts of A for 12 FMAs.
    /// Zen 4 retires one 512-bit FMA a cycle, so this runs at the core's peak once B's panel is in cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile6x32(int k, float* a, long rs, long cs, float* b, long ldb, float* c, long ldc, float* bias, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs, a4 = a + 4 * rs, a5 = a + 5 * rs;
        for (long p = 0, offset = 0; p < k; p++, offset += cs, b += ldb)
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
    static void Tile4x32(int k, float* a, long rs, long cs, float* b, long ldb, float* c, long ldc, float* bias, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        float* a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs;
        for (long p = 0, offset = 0; p < k; p++, offset += cs, b += ldb)
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
