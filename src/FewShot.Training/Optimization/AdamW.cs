using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Training.Optimization;

/// <summary>
/// AdamW (Loshchilov and Hutter) with per-group decoupled weight decay, written out so that its whole state is a set of
/// named tensors plus a step count: the checkpoint stores them beside the weights in one safetensors file, and a
/// resumed run continues with exactly the same numbers. The update is PyTorch's AdamW, op for op.
/// </summary>
public sealed class AdamW : IDisposable
{
    readonly IReadOnlyList<ParameterGroup> groups;
    readonly Dictionary<string, (Tensor ExpAvg, Tensor ExpAvgSq)> moments = [];
    readonly double beta1, beta2, epsilon;

    public long Steps { get; private set; }

    public AdamW(IReadOnlyList<ParameterGroup> groups, double beta1 = 0.9, double beta2 = 0.95, double epsilon = 1e-8)
    {
        this.groups = groups;
        (this.beta1, this.beta2, this.epsilon) = (beta1, beta2, epsilon);
        foreach (var group in groups)
            foreach (var (name, p) in group.Parameters)
                moments[name] = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
    }

    public IReadOnlyList<ParameterGroup> Groups => groups;

    public IEnumerable<TorchSharp.Modules.Parameter> Parameters => groups.SelectMany(g => g.Parameters.Select(p => p.Parameter));

    public void ZeroGrad()
    {
        foreach (var p in Parameters)
            if (p.grad is { } g) { g.zero_(); }
    }

    /// <summary>One update with learning rate <paramref name="lr"/>, from the gradients now in the parameters.</summary>
    public void Step(double lr)
    {
        Steps++;
        var correction1 = 1 - Math.Pow(beta1, Steps);
        var correction2Sqrt = Math.Sqrt(1 - Math.Pow(beta2, Steps));
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        foreach (var group in groups)
        {
            foreach (var (name, p) in group.Parameters)
            {
                if (p.grad is not { } g) continue;
                var (m, v) = moments[name];
                if (group.WeightDecay > 0) p.mul_(1 - lr * group.WeightDecay);
                m.mul_(beta1).add_(g, alpha: 1 - beta1);
                v.mul_(beta2).addcmul_(g, g, value: 1 - beta2);
                var denominator = v.sqrt().div_(correction2Sqrt).add_(epsilon);
                p.addcdiv_(m, denominator, value: -lr / correction1);
            }
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
    }
}
