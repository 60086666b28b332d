using FewShot.Model;
using FewShot.Training.Optimization;
using static TorchSharp.torch;

namespace FewShot.Training.Loop;

/// <summary>
/// A second copy of the model on its own thread, for data parallelism on a small CPU: each step it takes the second
/// half of the micro-batch's rows while the trainer's thread takes the first, and the gradients are summed before the
/// optimizer step. For small models this beats libtorch's intra-op threads, which fork and join on every one of the
/// step's few hundred small operations (and spin badly when other processes compete for the cores). The replica's
/// parameters live in one flat buffer laid out as the optimizer's (<see cref="FlatParameters"/>), so exchanging
/// gradients and weights is one operation each. Between steps it also takes half of the validation batches
/// (<see cref="Run"/>).
/// </summary>
sealed class ReplicaWorker : IDisposable
{
    readonly Gpt replica;
    readonly FlatParameters flat;
    readonly Thread thread;
    readonly SemaphoreSlim start = new(0), done = new(0);
    readonly Device device;
    long[] inputs = [], targets = [];
    int rows, context;
    double scale;
    Action<Gpt>? job;
    volatile bool stopping;
    Exception? error;

    /// <summary>The last micro-batch's mean loss on this replica's rows.</summary>
    public double Loss { get; private set; }

    public Gpt Model => replica;

    /// <summary>A replica of <paramref name="model"/>, whose parameters the optimizer holds as <paramref name="layout"/>.</summary>
    public ReplicaWorker(Gpt model, FlatParameters layout, double weightDecay)
    {
        replica = new Gpt(model.Config) { MatrixPrecision = model.MatrixPrecision };
        device = model.parameters().First().device;
        if (device.type != TorchSharp.DeviceType.CPU) TorchSharp.ModuleExtensionMethods.to(replica, device);
        // The same grouping (and so the same order) as the optimizer's, so that the two flat buffers line up.
        flat = new FlatParameters([.. ParameterGroups.Split(replica, weightDecay).SelectMany(g => g.Parameters.Select(p => p.Parameter))]);
        if (flat.Data.numel() != layout.Data.numel()) throw new InvalidOperationException("the replica's parameters do not line up with the model's");
        CopyWeightsFrom(layout);
        replica.train(model.training);
        thread = new Thread(Loop) { IsBackground = true, Name = "fewshot-replica" };
        thread.Start();
    }

    /// <summary>Starts forward and backward on rows [from, from + count) of the batch; <see cref="Wait"/> for it.</summary>
    public void Begin(ReadOnlySpan<long> batchInputs, ReadOnlySpan<long> batchTargets, int from, int count, int context, double lossScale)
    {
        var n = count * context;
        if (inputs.Length != n) { inputs = new long[n]; targets = new long[n]; }
        batchInputs.Slice(from * context, n).CopyTo(inputs);
        batchTargets.Slice(from * context, n).CopyTo(targets);
        (rows, this.context, scale) = (count, context, lossScale);
        job = null;
        start.Release();
    }

    /// <summary>Starts <paramref name="work"/> on the replica's thread with the replica model; <see cref="Wait"/> for it.</summary>
    public void Run(Action<Gpt> work)
    {
        job = work;
        start.Release();
    }

    public void Wait()
    {
        done.Wait();
        if (error is { } e) throw new InvalidOperationException($"the replica thread failed: {e.Message}", e);
    }

    void Loop()
    {
        while (true)
        {
            start.Wait();
            if (stopping) return;
            try
            {
                if (job is { } work)
                {
                    work(replica);
                    done.Release();
                    continue;
                }
                using var scope = NewDisposeScope();
                var x = tensor(inputs, [rows, context], device: device);
                var y = tensor(targets, [rows, context], device: device);
                var loss = replica.Loss(x, y);
                (loss * scale).backward();
                Loss = loss.item<float>();
            }
            catch (Exception e)
            {
                error = e;
            }
            done.Release();
        }
    }

    /// <summary>
    /// Adds this replica's gradients of flat elements [from, to) into the model's (laid out as <paramref name="layout"/>),
    /// clears its own there, and returns the sum of squares of the summed gradients there (for the clip's norm).
    /// </summary>
    public double AddGradientsTo(FlatParameters layout, long from, long to)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (sum, own) = (layout.Grad.narrow(0, from, to - from), flat.Grad.narrow(0, from, to - from));
        sum.add_(own);
        own.zero_();
        return sum.dot(sum).item<float>();
    }

    public void CopyWeightsFrom(FlatParameters layout) => CopyWeightsFrom(layout, 0, layout.Data.numel());

    /// <summary>Copies the model's weights of flat elements [from, to) into this replica.</summary>
    public void CopyWeightsFrom(FlatParameters layout, long from, long to)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        flat.Data.narrow(0, from, to - from).copy_(layout.Data.narrow(0, from, to - from));
    }

    public void Dispose()
    {
        stopping = true;
        start.Release();
        thread.Join();
        flat.Dispose();
        replica.Dispose();
    }
}
