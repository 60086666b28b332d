using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FewShot.Model.Inference;

/// <summary>
/// The fused decoder's arithmetic on raw float pointers: dot products, LayerNorm, GELU, softmax's exponentials (F32
/// matrix products are <see cref="PanelKernels"/>, Q8_0 ones <see cref="Q8Kernels"/>). Each has a 512-bit path
/// (AVX-512: 16 floats per instruction) and a scalar path that computes the same sums; the tests run both.
/// Every kernel is compiled fully optimised at its first call (AggressiveOptimization): tiered compilation would run
/// the first few hundred calls as unoptimised code, where each vector operation is a call, ~10x slower, and a server's
/// first requests (or a short benchmark) would see that.
/// </summary>
public static unsafe class Kernels
{
    /// <summary>False forces the scalar paths (tests compare them with the vector paths).</summary>
    public static bool UseVectors { get; set; } = Avx512F.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(float* a, float* b, int n)
    {
        var i = 0;
        var sum = 0f;
        if (UseVectors && n >= 16)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 64 <= n; i += 64)
            {
                s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
                s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), s1);
                s2 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i + 32), Vector512.Load(b + i + 32), s2);
                s3 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i + 48), Vector512.Load(b + i + 48), s3);
            }
            for (; i + 16 <= n; i += 16) s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>y += alpha x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Axpy(float alpha, float* x, float* y, int n)
    {
        var i = 0;
        if (UseVectors)
        {
            var a = Vector512.Create(alpha);
            for (; i + 16 <= n; i += 16) Vector512.Store(Avx512F.FusedMultiplyAdd(a, Vector512.Load(x + i), Vector512.Load(y + i)), y + i);
        }
        for (; i < n; i++) y[i] += alpha * x[i];
    }

    /// <summary>
    /// The index of the largest of n floats, the first one if several are equal, or of the first NaN if there is one
    /// (what torch's argmax returns): a greedy pick from logits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ArgMax(float* x, int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), "argmax of nothing");
        var i = 0;
        var max = float.NegativeInfinity;
        if (UseVectors)
        {
            // The largest value, and whether there is a NaN (the one value unequal to itself).
            var (m, nan) = (Vector512.Create(float.NegativeInfinity), Vector512<uint>.Zero);
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Load(x + i);
                m = Vector512.Max(m, v);
                nan |= ~Vector512.Equals(v, v).AsUInt32();
            }
            if (nan != Vector512<uint>.Zero) return FirstNaN(x, n);
            for (var k = 0; k < 16; k++) max = Math.Max(max, m.GetElement(k));
        }
        for (var k = i; k < n; k++)
        {
            if (float.IsNaN(x[k])) return FirstNaN(x, n);
            max = Math.Max(max, x[k]);
        }
        // Its first index.
        i = 0;
        if (UseVectors)
        {
            var target = Vector512.Create(max);
            for (; i + 16 <= n; i += 16)
                if (Vector512.Equals(Vector512.Load(x + i), target).ExtractMostSignificantBits() is var hits and not 0)
                    return i + BitOperations.TrailingZeroCount(hits);
        }
        for (; i < n; i++)
            if (x[i] == max) return i;
        return 0; // every value is -infinity
    }

    static int FirstNaN(float* x, int n)
    {
        for (var k = 0; k < n; k++)
            if (float.IsNaN(x[k])) return k;
        throw new InvalidOperationException("unreachable: a NaN was seen");
    }

    /// <summary>Weights per Q8_0 block (one scale each).</summary>
    public const int Q8Block = 32;

    /// <summary>x[i] = exp(x[i] - max) for i &lt; n; returns their sum (softmax's numerators and denominator).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float ExpInPlace(float* x, int n, float max)
    {
        var i = 0;
        var sum = 0f;
        if (UseVectors)
        {
            var m = Vector512.Create(max);
            var total = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var e = Exp(Vector512.Load(x + i) - m);
                Vector512.Store(e, x + i);
                total += e;
            }
            sum = Vector512.Sum(total);
        }
        for (; i < n; i++) { x[i] = MathF.Exp(x[i] - max); sum += x[i]; }
        return sum;
    }

    /// <summary>
    /// y = (x - mean) / sqrt(var + eps) * gain + bias over one vector of n (bias may be null); returns the mean and
    /// 1 / sqrt(var + eps), which <see cref="LayerNormBackward"/> takes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (float Mean, float Inverse) LayerNorm(float* x, float* y, int n, float* gain, float* bias, float eps)
    {
        var mean = Sum(x, n, 0f, squares: false) / n;
        var inverse = 1f / MathF.Sqrt(Sum(x, n, mean, squares: true) / n + eps); // two passes: no cancellation when |mean| >> std
        var i = 0;
        if (UseVectors)
        {
            var (m, s) = (Vector512.Create(mean), Vector512.Create(inverse));
            for (; i + 16 <= n; i += 16)
            {
                var v = (Vector512.Load(x + i) - m) * s * Vector512.Load(gain + i);
                Vector512.Store(bias == null ? v : v + Vector512.Load(bias + i), y + i);
            }
        }
        for (; i < n; i++) y[i] = (x[i] - mean) * inverse * gain[i] + (bias == null ? 0f : bias[i]);
        return (mean, inverse);
    }

    /// <summary>
    /// The gradient through <see cref="LayerNorm"/> for one vector of n, given its mean and inverse deviation: with
    /// x^ = (x - mean) inverse and g = dy gain, dx = inverse (g - mean(g) - x^ mean(g x^)); adds dy x^ to gainGrad and
    /// dy to biasGrad (may be null), which collect over rows. dx may be dy.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LayerNormBackward(float* x, float* dy, float* dx, int n, float* gain, float mean, float inverse, float* gainGrad, float* biasGrad)
    {
        float sumG = 0f, sumGx = 0f;
        var i = 0;
        if (UseVectors)
        {
            var (m, s) = (Vector512.Create(mean), Vector512.Create(inverse));
            Vector512<float> g0 = default, gx0 = default;
            for (; i + 16 <= n; i += 16)
            {
                var (normalized, upstream) = ((Vector512.Load(x + i) - m) * s, Vector512.Load(dy + i));
                var g = upstream * Vector512.Load(gain + i);
                g0 += g;
                gx0 = Avx512F.FusedMultiplyAdd(g, normalized, gx0);
                Vector512.Store(Avx512F.FusedMultiplyAdd(upstream, normalized, Vector512.Load(gainGrad + i)), gainGrad + i);
                if (biasGrad != null) Vector512.Store(Vector512.Load(biasGrad + i) + upstream, biasGrad + i);
            }
            (sumG, sumGx) = (Vector512.Sum(g0), Vector512.Sum(gx0));
        }
        for (var j = i; j < n; j++)
        {
            var normalized = (x[j] - mean) * inverse;
            var g = dy[j] * gain[j];
            (sumG, sumGx) = (sumG + g, sumGx + g * normalized);
            gainGrad[j] += dy[j] * normalized;
            if (biasGrad != null) biasGrad[j] += dy[j];
        }
        var (meanG, meanGx) = (sumG / n, sumGx / n);
        i = 0;
        if (UseVectors)
        {
            var (m, s, a, b) = (Vector512.Create(mean), Vector512.Create(inverse), Vector512.Create(meanG), Vector512.Create(meanGx));
            for (; i + 16 <= n; i += 16)
            {
                var normalized = (Vector512.Load(x + i) - m) * s;
                var g = Vector512.Load(dy + i) * Vector512.Load(gain + i);
                Vector512.Store(s * (g - a - normalized * b), dx + i);
            }
        }
        for (; i < n; i++) dx[i] = inverse * (dy[i] * gain[i] - meanG - (x[i] - mean) * inverse * meanGx);
    }

    // The sum of (x[i] - shift) (squared when asked) over n floats.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float Sum(float* x, int n, float shift, bool squares)
    {
        var i = 0;
        var sum = 0f;
        if (UseVectors)
        {
            var s = Vector512.Create(shift);
            Vector512<float> a0 = default, a1 = default;
            for (; i + 32 <= n; i += 32)
            {
                var (d0, d1) = (Vector512.Load(x + i) - s, Vector512.Load(x + i + 16) - s);
                (a0, a1) = squares ? (Avx512F.FusedMultiplyAdd(d0, d0, a0), Avx512F.FusedMultiplyAdd(d1, d1, a1)) : (a0 + d0, a1 + d1);
            }
            sum = Vector512.Sum(a0 + a1);
        }
        for (; i < n; i++) { var d = x[i] - shift; sum += squares ? d * d : d; }
        return sum;
    }

    /// <summary>GELU, tanh approximation, in place: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    public static void Gelu(float* x, int n) => Gelu(x, x, n);

    const float GeluScale = 0.7978845608f, GeluCubic = 0.044715f; // sqrt(2 / pi), and the cubic term's weight

    /// <summary>y = GELU(x) for n floats (tanh approximation); y may be x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gelu(float* x, float* y, long n)
    {
        long i = 0;
        if (UseVectors)
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Load(x + i);
                var (e, q) = TanhParts(GeluScale * (v + GeluCubic * v * v * v));
                Vector512.Store(v * e * q, y + i); // 0.5 x (1 + tanh u) = x e q
            }
        for (; i < n; i++)
        {
            var v = x[i];
            var (e, q) = TanhParts(GeluScale * (v + GeluCubic * v * v * v));
            y[i] = v * e * q;
        }
    }

    /// <summary>
    /// The gradient through GELU (tanh approximation) for n floats: dx = dy (0.5 (1 + t) + 0.5 x (1 - t^2) u'), with
    /// t = tanh(u), u = sqrt(2/pi) (x + 0.044715 x^3), u' = sqrt(2/pi) (1 + 3 x 0.044715 x^2); dx may be dy.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GeluBackward(float* x, float* dy, float* dx, long n)
    {
        long i = 0;
        if (UseVectors)
        {
            var one = Vector512<float>.One;
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Load(x + i);
                var square = v * v;
                var (e, q) = TanhParts(GeluScale * (v + GeluCubic * square * v));
                // 0.5 (1 + t) = e q and 1 - t^2 = 4 e q^2: slope = e q (1 + 2 x q u'), with no cancellation near |t| = 1.
                var slope = e * q * (one + 2f * v * q * (GeluScale * (one + 3f * GeluCubic * square)));
                Vector512.Store(Vector512.Load(dy + i) * slope, dx + i);
            }
        }
        for (; i < n; i++)
        {
            var v = x[i];
            var (e, q) = TanhParts(GeluScale * (v + GeluCubic * v * v * v));
            dx[i] = dy[i] * (e * q * (1f + 2f * v * q * (GeluScale * (1f + 3f * GeluCubic * v * v))));
        }
    }

    /// <summary>
    /// e = exp(2u) and q = 1 / (e + 1), from which tanh u = 1 - 2q, 0.5 (1 + tanh u) = e q and 1 - tanh^2 u = 4 e q^2
    /// without cancellation. u is clamped to [-40, 15], beyond which those are 0 or 1 to float precision.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector512<float> E, Vector512<float> Q) TanhParts(Vector512<float> u)
    {
        u = Vector512.Min(Vector512.Max(u, Vector512.Create(-40f)), Vector512.Create(15f));
        var e = Exp(u + u);
        return (e, Vector512<float>.One / (e + Vector512<float>.One));
    }

    static (float E, float Q) TanhParts(float u)
    {
        var e = MathF.Exp(2f * Math.Clamp(u, -40f, 15f));
        return (e, 1f / (e + 1f));
    }

    /// <summary>
    /// exp(x) for x &lt;= 88 (below -87 it returns ~1e-38 instead of 0): 2^n exp(r) with n = round(x / ln 2) and
    /// r = x - n ln 2 (|r| &lt;= 0.35, ln 2 split in two for exactness), exp(r) by its Taylor series to r^7 (relative
    /// error ~1e-7, float's rounding), 2^n added to the exponent bits. Vector512.Exp of .NET 10 took ~2.4 ns a float
    /// here (it widens to doubles); this is ~10x less.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Exp(Vector512<float> x)
    {
        x = Vector512.Max(x, Vector512.Create(-87f));
        var n = Vector512.Round(x * 1.44269504f);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693145752f), x); // ln 2, high bits (exact product)
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-1.42860677e-6f), r);   // ln 2, the rest
        var p = Vector512.Create(1f / 5040);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        return (p.AsInt32() + Vector512.ShiftLeft(Vector512.ConvertToInt32(n), 23)).AsSingle();
    }
}
