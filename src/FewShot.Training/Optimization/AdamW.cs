using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Training.Optimization;

/// <summary>
/// AdamW (Loshchilov and Hutter) with per-group decoupled weight decay, written out so that its whole state is a set of
/// named tensors plus a step count: the checkpoint stores them beside the weights in one safetensors file, and a
/// resumed run continues with exactly the same numbers. The update is PyTorch's AdamW, op for op.
/// </summary>
/// <remarks>
/// The parameters are moved into one flat buffer (<see cref="FlatParameters"/>), group after group, and the moments
/// are flat too: a step is ~6 operations per group over a contiguous range, not ~6 per parameter, with the same
/// arithmetic on every element. Gradients accumulate into views of <see cref="Flat"/>'s gradient buffer: assigning a
/// parameter's <c>grad</c> afterwards detaches it from the optimizer.
/// </remarks>
public sealed class AdamW : IDisposable
{
    readonly IReadOnlyList<ParameterGroup> groups;
    readonly List<(long Offset, long Count, double WeightDecay)> ranges = [];
    readonly Dictionary<string, (Tensor ExpAvg, Tensor ExpAvgSq)> moments = []; // views of the flat moments, by name
    readonly Tensor expAvg, expAvgSq; // (total,), laid out as Flat
    readonly double beta1, beta2, epsilon;

    public long Steps { get; private set; }

    /// <summary>The parameters and their gradients as two flat buffers.</summary>
    public FlatParameters Flat { get; }

    public AdamW(IReadOnlyList<ParameterGroup> groups, double beta1 = 0.9, double beta2 = 0.95, double epsilon = 1e-8)
    {
        this.groups = groups;
        (this.beta1, this.beta2, this.epsilon) = (beta1, beta2, epsilon);
        Flat = new FlatParameters([.. groups.SelectMany(g => g.Parameters.Select(p => p.Parameter))]);
        expAvg = zeros_like(Flat.Data).DetachFromDisposeScope();
        expAvgSq = zeros_like(Flat.Data).DetachFromDisposeScope();
        var index = 0;
        foreach (var group in groups)
        {
            var (offset, count) = Flat.Range(index, group.Parameters.Count);
            ranges.Add((offset, count, group.WeightDecay));
            foreach (var (name, p) in group.Parameters)
            {
                var (at, n) = Flat.Range(index++, 1);
                moments[name] = (Slice(expAvg, at, n, p.shape), Slice(expAvgSq, at, n, p.shape));
            }
        }
    }

    static Tensor Slice(Tensor flat, long offset, long count, long[] shape)
    {
        using var range = flat.narrow(0, offset, count);
        return range.view(shape).DetachFromDisposeScope();
    }

    public IReadOnlyList<ParameterGroup> Groups => groups;

    public IEnumerable<TorchSharp.Modules.Parameter> Parameters => Flat.Parameters;

    public void ZeroGrad() => Flat.ZeroGrad();

    /// <summary>One update with learning rate <paramref name="lr"/>, from the gradients now in the parameters.</summary>
    public void Step(double lr)
    {
        BeginStep();
        Update(lr, 0, Flat.Data.numel());
    }

    /// <summary>Counts a step; then <see cref="Update"/> applies it, to the whole buffer or to disjoint ranges on several threads.</summary>
    public void BeginStep() => Steps++;

    /// <summary>
    /// The update of the step counted by <see cref="BeginStep"/>, on flat elements [from, to) only, from the gradients
    /// times <paramref name="gradientScale"/> (a clip factor; the gradients themselves are left as they are).
    /// </summary>
    public void Update(double lr, long from, long to, double gradientScale = 1)
    {
        var correction1 = 1 - Math.Pow(beta1, Steps);
        var correction2Sqrt = Math.Sqrt(1 - Math.Pow(beta2, Steps));
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        foreach (var (groupOffset, groupCount, weightDecay) in ranges)
        {
            var offset = Math.Max(groupOffset, from);
            var count = Math.Min(groupOffset + groupCount, to) - offset;
            if (count <= 0) continue;
            var decay = weightDecay > 0 ? 1 - lr * weightDecay : 1;
            if (FusedUpdate.Applies(Flat.Data))
            {
                FusedUpdate.Apply(Flat.Data, Flat.Grad, expAvg, expAvgSq, offset, count,
                    new FusedUpdate.Factors(decay, gradientScale, beta1, beta2, correction2Sqrt, epsilon, -lr / correction1));
                continue;
            }
            var (p, g) = (Flat.Data.narrow(0, offset, count), Flat.Grad.narrow(0, offset, count));
            var (m, v) = (expAvg.narrow(0, offset, count), expAvgSq.narrow(0, offset, count));
            if (gradientScale != 1) g = g * gradientScale;
            if (weightDecay > 0) p.mul_(decay);
            m.mul_(beta1).add_(g, alpha: 1 - beta1);
            v.mul_(beta2).addcmul_(g, g, value: 1 - beta2);
            var denominator = v.sqrt().div_(correction2Sqrt).add_(epsilon);
            p.addcdiv_(m, denominator, value: -lr / correction1);
        }
    }

    /// <summary>The moments as named tensors: exp_avg.NAME and exp_avg_sq.NAME (views, not copies).</summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var state = new Dictionary<string, Tensor>();
        foreach (var (name, (m, v)) in moments)
        {
            state[$"exp_avg.{name}"] = m;
            state[$"exp_avg_sq.{name}"] = v;
        }
        return state;
    }

    /// <summary>Restores the moments and the step count; throws <see cref="InvalidDataException"/> when a tensor is missing or misshapen.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> tensors, long steps, string source)
    {
        using var _ = no_grad();
        foreach (var (name, (m, v)) in moments)
        {
            foreach (var (key, target) in new[] { ($"exp_avg.{name}", m), ($"exp_avg_sq.{name}", v) })
            {
                if (!tensors.TryGetValue(key, out var value)) throw new InvalidDataException($"{source}: optimizer state '{key}' missing");
                if (!value.shape.SequenceEqual(target.shape)) throw new InvalidDataException($"{source}: optimizer state '{key}' has the wrong shape");
                target.copy_(value);
            }
        }
        Steps = steps;
    }

    public void Dispose()
    {
        foreach (var (m, v) in moments.Values) { m.Dispose(); v.Dispose(); }
        moments.Clear();
        expAvg.Dispose();
        expAvgSq.Dispose();
        Flat.Dispose();
    }
}
