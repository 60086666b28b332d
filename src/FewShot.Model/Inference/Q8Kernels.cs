using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FewShot.Model.Inference;

/// <summary>
/// Q8_0 weights times 8-bit activations, the way llama.cpp multiplies Q8_0 by Q8_0: each input row is quantised once
/// per product to blocks of 32 integers with one float scale, and a block's 32 products are summed in integers, so a
/// float multiply-add happens once per block instead of once per weight.
/// </summary>
/// <remarks>
/// Weight layout (<see cref="Q8Matrix"/>): output rows in groups of 16; within a group, for block k, chunk c (16 per
/// block), the 32 bytes hold weights 32k + 2c and 32k + 2c + 1 of each of the 16 rows, row by row. Widened to 16 bits,
/// one chunk is a 512-bit vector whose 32-bit lane r belongs to row r, so multiplying it by the input's pair of values
/// (broadcast) and adding adjacent products (vpmaddwd) advances 16 rows' sums at once, with no horizontal sums at the
/// end: a group's result is a vector of 16 outputs. The group's 16 scales of block k are one 64-byte vector.
/// .NET 10 exposes no 512-bit VNNI (AvxVnni is the 256-bit VEX form), so the integer dot is vpmovsxbw + vpmaddwd +
/// vpaddd (exact: 32 products of at most 127 x 127 per block fit 32 bits easily).
/// </remarks>
public static unsafe class Q8Kernels
{
    public const int Block = Kernels.Q8Block;
    /// <summary>Output rows per group: one 512-bit vector of 32-bit sums.</summary>
    public const int GroupRows = 16;
    const int ChunksPerBlock = Block / 2;       // a chunk holds two consecutive weights of each row
    const int ChunkBytes = GroupRows * 2;       // 32
    const int GroupBlockBytes = GroupRows * Block; // 512: one block of 16 rows
    const int InputBlock = 8;                   // input rows served by one pass over the weights

    /// <summary>Where weight (row r of the group, column i) of group block (group, i / 32) sits, as an offset in the group block.</summary>
    public static int OffsetInGroupBlock(int r, int i) => (i % Block / 2) * ChunkBytes + r * 2 + i % 2;

    /// <summary>
    /// Quantises input rows per block of 32: scales[t, k] = max |x[t, 32k..32k+32)| / 127 and
    /// q[t, i] = round(x[t, i] / scales[t, k]) in [-127, 127], as 16-bit integers (the width the product multiplies).
    /// x (count, inDim), q (count, inDim), scales (count, inDim / 32); inDim a multiple of 32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRows(float* x, int count, int inDim, short* q, float* scales)
    {
        var blocks = (long)count * inDim / Block;
        for (long b = 0; b < blocks; b++)
        {
            var xb = x + b * Block;
            var qb = q + b * Block;
            if (Kernels.UseVectors)
            {
                var v0 = Vector512.Load(xb);
                var v1 = Vector512.Load(xb + 16);
                var max = MaxAcross(Vector512.Max(Vector512.Abs(v0), Vector512.Abs(v1)));
                var scale = max / 127f;
                var inverse = Vector512.Create(scale == 0 ? 0 : 1f / scale);
                Vector256.Store(Avx512F.ConvertToVector256Int16(Avx512F.ConvertToVector512Int32(v0 * inverse)), qb);
                Vector256.Store(Avx512F.ConvertToVector256Int16(Avx512F.ConvertToVector512Int32(v1 * inverse)), qb + 16);
                scales[b] = scale;
                continue;
            }
            var m = 0f;
            for (var j = 0; j < Block; j++) m = Math.Max(m, Math.Abs(xb[j]));
            var s = m / 127f;
            var inv = s == 0 ? 0 : 1f / s;
            for (var j = 0; j < Block; j++) qb[j] = (short)Math.Clamp(MathF.Round(xb[j] * inv), -127, 127); // ties to even, as the vector path
            scales[b] = s;
        }
    }

    static float MaxAcross(Vector512<float> v)
    {
        var m = Vector256.Max(v.GetLower(), v.GetUpper());
        var m4 = Vector128.Max(m.GetLower(), m.GetUpper());
        return Math.Max(Math.Max(m4[0], m4[1]), Math.Max(m4[2], m4[3]));
    }

    /// <summary>
    /// y[t, o] = (accumulate ? y[t, o] : 0) + bias[o] + sum over blocks k of wScale[o, k] xScale[t, k] (wq[o, block k] .
    /// xq[t, block k]) for o in [first, end) and t in [0, count). w and wScales in the group layout above (groups of 16
    /// rows, the last one padded with zero rows); first a multiple of 16; xq and xScales from <see cref="QuantizeRows"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MatMul(sbyte* w, float* wScales, int inDim, short* xq, float* xScales, int count, float* y, int yStride,
        float* bias, bool accumulate, int first, int end)
    {
        if (first % GroupRows != 0) throw new ArgumentException($"the first output row must start a group of {GroupRows}, got {first}", nameof(first));
        var blocks = inDim / Block;
        var sums = stackalloc float[InputBlock * GroupRows]; // (n, 16): one group's outputs for n inputs
        for (var t0 = 0; t0 < count; t0 += InputBlock)
        {
            var n = Math.Min(InputBlock, count - t0);
            var x0 = xq + (long)t0 * inDim;
            var s0 = xScales + (long)t0 * blocks;
            for (var o = first; o < end; o += GroupRows)
            {
                var g = o / GroupRows;
                var wg = w + (long)g * blocks * GroupBlockBytes;
                var sg = wScales + (long)g * blocks * GroupRows;
                if (Kernels.UseVectors) GroupDot(wg, sg, blocks, x0, s0, inDim, n, sums);
                else GroupDotScalar(wg, sg, blocks, x0, s0, inDim, n, sums);
                var rows = Math.Min(GroupRows, end - o);
                for (var t = 0; t < n; t++)
                {
                    var yt = y + (long)(t0 + t) * yStride + o;
                    var st = sums + t * GroupRows;
                    if (rows == GroupRows && Kernels.UseVectors)
                    {
                        var v = Vector512.Load(st);
                        if (bias != null) v += Vector512.Load(bias + o);
                        if (accumulate) v += Vector512.Load(yt);
                        Vector512.Store(v, yt);
                        continue;
                    }
                    for (var r = 0; r < rows; r++) yt[r] = (accumulate ? yt[r] : 0f) + st[r] + (bias == null ? 0f : bias[o + r]);
                }
            }
        }
    }

    // sums[t, r] = row r of the group . input t, for t < n (n <= 8): each chunk of weights is widened once for all inputs.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void GroupDot(sbyte* w, float* wScales, int blocks, short* x, float* xScales, int inDim, int n, float* sums)
    {
        // Inputs past n alias input 0: their sums are computed and dropped (no branch per input in the loop).
        short* Input(int t) => x + (t < n ? (long)t * inDim : 0);
        float* Scales(int t) => xScales + (t < n ? (long)t * blocks : 0);
        short* x1 = Input(1), x2 = Input(2), x3 = Input(3), x4 = Input(4), x5 = Input(5), x6 = Input(6), x7 = Input(7);
        float* c1 = Scales(1), c2 = Scales(2), c3 = Scales(3), c4 = Scales(4), c5 = Scales(5), c6 = Scales(6), c7 = Scales(7);
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        var width = n == 1 ? 1 : n == 2 ? 2 : n <= 4 ? 4 : 8;
        for (var k = 0; k < blocks; k++)
        {
            Vector512<int> i0 = default, i1 = default, i2 = default, i3 = default, i4 = default, i5 = default, i6 = default, i7 = default;
            var wk = w + (long)k * GroupBlockBytes;
            var at = k * Block;
            for (var c = 0; c < ChunksPerBlock; c++, at += 2)
            {
                var wv = Avx512BW.ConvertToVector512Int16(Vector256.Load(wk + c * ChunkBytes)); // (16 rows x 2 weights) as int16
                i0 += Avx512BW.MultiplyAddAdjacent(wv, Pair(x + at));
                if (width == 1) continue;
                i1 += Avx512BW.MultiplyAddAdjacent(wv, Pair(x1 + at));
                if (width == 2) continue;
                i2 += Avx512BW.MultiplyAddAdjacent(wv, Pair(x2 + at));
                i3 += Avx512BW.MultiplyAddAdjacent(wv, Pair(x3 + at));
                if (width == 4) continue;
                i4 += Avx512BW.MultiplyAddAdjacent(wv, Pair(x4 + at));
                i5 += Avx512BW.MultiplyAddAdjacent(wv, Pair(x5 + at));
                i6 += Avx512BW.MultiplyAddAdjacent(wv, Pair(x6 + at));
                i7 += Avx512BW.MultiplyAddAdjacent(wv, Pair(x7 + at));
            }
            // f[t] += (16 rows' integer sums) * (16 rows' weight scales) * (input t's scale of block k)
            var ws = Vector512.Load(wScales + (long)k * GroupRows);
            f0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i0), ws * xScales[k], f0);
            if (width == 1) continue;
            f1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i1), ws * c1[k], f1);
            if (width == 2) continue;
            f2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i2), ws * c2[k], f2);
            f3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i3), ws * c3[k], f3);
            if (width == 4) continue;
            f4 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i4), ws * c4[k], f4);
            f5 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i5), ws * c5[k], f5);
            f6 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i6), ws * c6[k], f6);
            f7 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i7), ws * c7[k], f7);
        }
        Vector512.Store(f0, sums);
        if (n > 1) Vector512.Store(f1, sums + GroupRows);
        if (n > 2) Vector512.Store(f2, sums + 2 * GroupRows);
        if (n > 3) Vector512.Store(f3, sums + 3 * GroupRows);
        if (n > 4) Vector512.Store(f4, sums + 4 * GroupRows);
        if (n > 5) Vector512.Store(f5, sums + 5 * GroupRows);
        if (n > 6) Vector512.Store(f6, sums + 6 * GroupRows);
        if (n > 7) Vector512.Store(f7, sums + 7 * GroupRows);
    }

    // The input's two 16-bit values at p, in every 32-bit lane.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<short> Pair(short* p) => Vector512.Create(*(int*)p).AsInt16();

    // The same sums one product at a time: the reference the vector path is tested against.
    static void GroupDotScalar(sbyte* w, float* wScales, int blocks, short* x, float* xScales, int inDim, int n, float* sums)
    {
        for (var t = 0; t < n; t++)
            for (var r = 0; r < GroupRows; r++)
            {
                var sum = 0f;
                for (var k = 0; k < blocks; k++)
                {
                    var block = 0;
                    for (var j = 0; j < Block; j++)
                        block += w[(long)k * GroupBlockBytes + OffsetInGroupBlock(r, j)] * x[(long)t * inDim + k * Block + j];
                    sum += wScales[(long)k * GroupRows + r] * xScales[(long)t * blocks + k] * block;
                }
                sums[t * GroupRows + r] = sum;
            }
    }
}
