using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace FewShot.Training.Optimization;

/// <summary>
/// AdamW's update of one flat range on the CPU in one pass of vector code: the same arithmetic as the op-by-op update
/// in <see cref="AdamW.Update"/> (decay, the two moments, the bias-corrected step), which makes ~9 passes over the
/// range through libtorch. On the Shakespeare model's 0.8M parameters that took ~1.3 ms of each step on each of the
/// two threads while neither could run the model. Other devices and dtypes take the op-by-op update; the two agree to
/// float rounding (test <c>FusedUpdateMatchesTheOpByOpUpdate</c>).
/// </summary>
static class FusedUpdate
{
    /// <summary>
    /// The update's constants, each rounded to float from double as libtorch rounds its scalars: decay = 1 - lr wd,
    /// keep = 1 - beta, correction2Sqrt = sqrt(1 - beta2^t), step = -lr / (1 - beta1^t).
    /// </summary>
    public readonly record struct Factors(float Decay, float GradientScale, float Beta1, float Keep1, float Beta2, float Keep2,
        float Correction2Sqrt, float Epsilon, float Step)
    {
        public Factors(double decay, double gradientScale, double beta1, double beta2, double correction2Sqrt, double epsilon, double step)
            : this((float)decay, (float)gradientScale, (float)beta1, (float)(1 - beta1), (float)beta2, (float)(1 - beta2),
                (float)correction2Sqrt, (float)epsilon, (float)step) { }
    }

    public static bool Applies(Tensor data) =>
        Vector512.IsHardwareAccelerated && data.device_type == TorchSharp.DeviceType.CPU && data.dtype == ScalarType.Float32;

    public static unsafe void Apply(Tensor data, Tensor grad, Tensor expAvg, Tensor expAvgSq, long offset, long count, Factors f)
    {
        fixed (byte* p = data.bytes, g = grad.bytes, m = expAvg.bytes, v = expAvgSq.bytes)
            Update((float*)p + offset, (float*)g + offset, (float*)m + offset, (float*)v + offset, count, f);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Update(float* p, float* g, float* m, float* v, long count, Factors f)
    {
        var (decay, scale, beta1, beta2) = (Vector512.Create(f.Decay), Vector512.Create(f.GradientScale), Vector512.Create(f.Beta1), Vector512.Create(f.Beta2));
        var (keep1, keep2) = (Vector512.Create(f.Keep1), Vector512.Create(f.Keep2));
        var (correction, epsilon, step) = (Vector512.Create(f.Correction2Sqrt), Vector512.Create(f.Epsilon), Vector512.Create(f.Step));
        long i = 0;
        for (; i + 16 <= count; i += 16)
        {
            var gradient = Vector512.Load(g + i) * scale;
            var first = Vector512.Load(m + i) * beta1 + gradient * keep1;
            var second = Vector512.Load(v + i) * beta2 + keep2 * gradient * gradient;
            var denominator = Vector512.Sqrt(second) / correction + epsilon;
            var weight = Vector512.Load(p + i) * decay;
            (weight + step * (first / denominator)).Store(p + i);
            first.Store(m + i);
            second.Store(v + i);
        }
        for (; i < count; i++)
        {
            var gradient = g[i] * f.GradientScale;
            m[i] = m[i] * f.Beta1 + gradient * f.Keep1;
            v[i] = v[i] * f.Beta2 + f.Keep2 * gradient * gradient;
            var denominator = MathF.Sqrt(v[i]) / f.Correction2Sqrt + f.Epsilon;
            p[i] = p[i] * f.Decay + f.Step * (m[i] / denominator);
        }
    }
}
