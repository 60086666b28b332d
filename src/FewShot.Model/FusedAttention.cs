using System.Runtime.Intrinsics;
using FewShot.Model.Inference;
using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Model;

/// <summary>
/// Dense causal self-attention for short sequences on one CPU thread, read straight from c_attn's (B, T, 3C) output
/// and written straight as (B, T, C), forward and backward by <see cref="Gemm"/>: no permuted copies of q, k and v,
/// and products that fill the vector registers. libtorch's fused attention (SDPA) spent ~1.6 ms a layer on the
/// Shakespeare model's 6 x 4 heads of 64 x 32 (forward and backward with the head reshapes) on one thread, mostly in
/// per-head calls into sgemm on 64 x 32 matrices. Keeps the softmax probabilities (B, H, T, T) for backward, so it
/// is for contexts up to <see cref="MaxContext"/>; dropout on the probabilities, longer contexts, other devices,
/// dtypes and thread counts take <see cref="Attention.Causal"/>. Equal to libtorch's attention to float summation
/// order (test <c>FusedAttentionMatchesLibtorch</c>).
/// </summary>
public static class FusedAttention
{
    /// <summary>The longest sequence it takes: the saved probabilities are B x H x T x T floats.</summary>
    public const int MaxContext = 256;

    /// <summary>The most probabilities it keeps for one call (64 MiB of floats): larger batches take libtorch's attention.</summary>
    public const long MaxProbabilities = 16L << 20;

    /// <summary>Whether attention over <paramref name="qkv"/> (B, T, 3C) runs here.</summary>
    public static bool Applies(Tensor qkv, int heads, double dropout) =>
        dropout == 0 && FusedLinear.RunsOnOneThread(qkv)
        && qkv.shape[1] <= MaxContext && qkv.shape[2] / 3 / heads % Gemm.ColumnMultiple == 0
        && qkv.shape[0] * heads * qkv.shape[1] * qkv.shape[1] <= MaxProbabilities;

    /// <summary>qkv (B, T, 3C), q | k | v side by side with heads of C / heads each; returns (B, T, C), heads side by side.</summary>
    public static Tensor Apply(Tensor qkv, int heads) => AttentionFunction.apply(qkv, heads);

    sealed class AttentionFunction : autograd.SingleTensorFunction<AttentionFunction>
    {
        public override string Name => "FusedAttentionBackward";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (qkv, heads) = (((Tensor)vars[0]).contiguous(), (int)vars[1]);
            var shape = new Shape(qkv, heads);
            var output = empty([shape.B, shape.T, shape.C], ScalarType.Float32);
            var probabilities = empty([shape.B, heads, shape.T, shape.Padded], ScalarType.Float32);
            unsafe
            {
                fixed (byte* q = qkv.bytes, y = output.bytes, p = probabilities.bytes)
                fixed (float* keysT = Scratch.Get(shape.HeadSize * shape.Padded))
                    for (var b = 0; b < shape.B; b++)
                        for (var h = 0; h < heads; h++)
                            Forward(shape, (float*)q + shape.QkvOffset(b, h), (float*)y + shape.OutOffset(b, h),
                                (float*)p + shape.ProbabilityOffset(b, h), keysT);
            }
            ctx.save_for_backward([qkv, probabilities, output]);
            ctx.save_data("heads", heads);
            return output;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var (qkv, probabilities, output) = (saved[0], saved[1], saved[2]);
            var heads = (int)ctx.get_data("heads");
            var shape = new Shape(qkv, heads);
            using var gradY = gradOutput.contiguous();
            var gradQkv = empty([shape.B, shape.T, 3 * shape.C], ScalarType.Float32);
            unsafe
            {
                fixed (byte* q = qkv.bytes, p = probabilities.bytes, y = output.bytes, dy = gradY.bytes, dq = gradQkv.bytes)
                fixed (float* valuesT = Scratch.Get(shape.HeadSize * shape.Padded), gradScores = Scratch.Get(shape.T * shape.Padded, second: true))
                    for (var b = 0; b < shape.B; b++)
                        for (var h = 0; h < heads; h++)
                            Backward(shape, (float*)q + shape.QkvOffset(b, h), (float*)p + shape.ProbabilityOffset(b, h),
                                (float*)y + shape.OutOffset(b, h), (float*)dy + shape.OutOffset(b, h), (float*)dq + shape.QkvOffset(b, h),
                                valuesT, gradScores);
            }
            return [gradQkv, null!];
        }
    }

    /// <summary>
    /// Sizes and strides. Score rows are padded to <see cref="Padded"/> columns (a multiple of 16, zeros past T) so
    /// that every product's output width suits <see cref="Gemm"/>.
    /// </summary>
    readonly struct Shape(Tensor qkv, int heads)
    {
        public readonly int B = (int)qkv.shape[0], T = (int)qkv.shape[1], C = (int)qkv.shape[2] / 3, Heads = heads;
        public int HeadSize => C / Heads;
        public int Padded => (T + Gemm.ColumnMultiple - 1) / Gemm.ColumnMultiple * Gemm.ColumnMultiple;
        public long QkvOffset(int b, int h) => (long)b * T * 3 * C + h * HeadSize; // q; k at + C, v at + 2C
        public long OutOffset(int b, int h) => (long)b * T * C + h * HeadSize;
        public long ProbabilityOffset(int b, int h) => ((long)b * Heads + h) * T * Padded;
    }

    /// <summary>One head: P = softmax(q k^T / sqrt(hs)) under the causal mask, y = P v.</summary>
    static unsafe void Forward(Shape s, float* q, float* y, float* p, float* keysT)
    {
        var (T, hs, width, stride) = (s.T, s.HeadSize, s.Padded, 3 * s.C);
        Transpose(q + s.C, T, hs, stride, keysT, width);                                           // k^T (hs, width)
        // Scores (T, width), each block of 16 queries against the keys it can see (the causal half is skipped).
        for (var first = 0; first < T; first += Block)
            Gemm.Multiply(Math.Min(Block, T - first), first + Block, hs, q + (long)first * stride, stride, 1, keysT, width, 1,
                p + (long)first * width, width, null, accumulate: false);
        var scale = Vector512.Create(1 / MathF.Sqrt(hs));
        for (var i = 0; i < T; i++)
        {
            // Keys 0..i in whole vectors: the lanes past i are set to -inf before the max and the exponentials.
            var row = p + (long)i * width;
            var end = (i + Gemm.ColumnMultiple) / Gemm.ColumnMultiple * Gemm.ColumnMultiple;
            var max = Vector512.Create(float.NegativeInfinity);
            for (var j = 0; j < end; j += 16)
            {
                var visible = Vector512.LessThanOrEqual(Vector512<int>.Indices + Vector512.Create(j), Vector512.Create(i)).AsSingle();
                var scores = Vector512.ConditionalSelect(visible, Vector512.Load(row + j) * scale, Vector512.Create(float.NegativeInfinity));
                scores.Store(row + j);
                max = Vector512.Max(max, scores);
            }
            var inverse = Vector512.Create(1 / Kernels.ExpInPlace(row, end, HorizontalMax(max)));
            for (var j = 0; j < end; j += 16) (Vector512.Load(row + j) * inverse).Store(row + j);
            new Span<float>(row + i + 1, width - i - 1).Clear(); // the keys the mask hides, and the padding
        }
        for (var first = 0; first < T; first += Block) // y = P v (T, hs), over the keys each block of queries sees
        {
            var rows = Math.Min(Block, T - first);
            Gemm.Multiply(rows, hs, first + rows, p + (long)first * width, width, 1, q + 2 * s.C, stride, 1, y + (long)first * s.C, s.C, null, accumulate: false);
        }
    }

    /// <summary>Queries (or keys) per product in the causal loops: products stop at the last key a block can see.</summary>
    const int Block = Gemm.ColumnMultiple;

    /// <summary>
    /// One head's gradients into its q, k and v columns of dqkv: dv = P^T dy, dP = dy v^T,
    /// dS = P (dP - rowsum(dy y)) / sqrt(hs), dq = dS k, dk = dS^T q.
    /// </summary>
    static unsafe void Backward(Shape s, float* q, float* p, float* y, float* dy, float* dq, float* valuesT, float* gradScores)
    {
        var (T, hs, width, stride) = (s.T, s.HeadSize, s.Padded, 3 * s.C);
        Transpose(q + 2 * s.C, T, hs, stride, valuesT, width);                                        // v^T (hs, width)
        for (var first = 0; first < T; first += Block)
        {
            // Blocks of 16 keys j for dv = P^T dy and dk = dS^T q (queries i >= j only), of 16 queries i for
            // dP = dy v^T and dq = dS k (keys j <= i only).
            var rows = Math.Min(Block, T - first);
            var corner = (long)first * width + first; // P[first, first]: the first query that sees key `first`
            Gemm.Multiply(rows, hs, T - first, p + corner, 1, width, dy + (long)first * s.C, s.C, 1,
                dq + 2 * s.C + (long)first * stride, stride, null, accumulate: false);                                // dv
            Gemm.Multiply(rows, first + Block, hs, dy + (long)first * s.C, s.C, 1, valuesT, width, 1,
                gradScores + (long)first * width, width, null, accumulate: false);                                    // dP
        }
        var scale = Vector512.Create(1 / MathF.Sqrt(hs));
        for (var i = 0; i < T; i++)
        {
            // Keys 0..i in whole vectors (what dP holds): P is zero past key i, and so is dS.
            var row = p + (long)i * width;
            var gradRow = gradScores + (long)i * width;
            var end = (i / Block + 1) * Block;
            var delta = Vector512.Create(Kernels.Dot(dy + (long)i * s.C, y + (long)i * s.C, hs)); // = sum_j P_ij dP_ij
            for (var j = 0; j < end; j += 16)
                (Vector512.Load(row + j) * (Vector512.Load(gradRow + j) - delta) * scale).Store(gradRow + j);
        }
        for (var first = 0; first < T; first += Block)
        {
            var rows = Math.Min(Block, T - first);
            Gemm.Multiply(rows, hs, first + rows, gradScores + (long)first * width, width, 1, q + s.C, stride, 1,
                dq + (long)first * stride, stride, null, accumulate: false);                                         // dq = dS k
            Gemm.Multiply(rows, hs, T - first, gradScores + (long)first * width + first, 1, width, q + (long)first * stride, stride, 1,
                dq + s.C + (long)first * stride, stride, null, accumulate: false);                                   // dk = dS^T q
        }
    }

    static float HorizontalMax(Vector512<float> v)
    {
        var half = Vector256.Max(v.GetLower(), v.GetUpper());
        var quarter = Vector128.Max(half.GetLower(), half.GetUpper());
        return MathF.Max(MathF.Max(quarter[0], quarter[1]), MathF.Max(quarter[2], quarter[3]));
    }

    /// <summary>to (cols, width) = from (rows, cols)^T, from's rows <paramref name="stride"/> apart; columns past rows zeroed.</summary>
    static unsafe void Transpose(float* from, int rows, int cols, int stride, float* to, int width)
    {
        Gemm.Transpose(from, rows, cols, stride, to, width);
        for (var c = 0; c < cols; c++) new Span<float>(to + (long)c * width + rows, width - rows).Clear();
    }

    /// <summary>Per-thread scratch arrays, grown as needed (each replica's thread has its own).</summary>
    static class Scratch
    {
        [ThreadStatic] static float[]? first, second;

        public static float[] Get(int length, bool second = false)
        {
            ref var buffer = ref second ? ref Scratch.second : ref first;
            if (buffer is null || buffer.Length < length) buffer = new float[length];
            return buffer;
        }
    }
}
