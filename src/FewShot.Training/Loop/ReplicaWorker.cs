using FewShot.Model;
using static TorchSharp.torch;

namespace FewShot.Training.Loop;

/// <summary>
/// A second copy of the model on its own thread, for data parallelism on a small CPU: each step it takes the second
/// half of the micro-batch's rows while the trainer's thread takes the first, and the gradients are summed before the
/// optimizer step. For small models this beats libtorch's intra-op threads, which fork and join on every one of the
/// step's few hundred small operations (and spin badly when other processes compete for the cores).
/// </summary>
sealed class ReplicaWorker : IDisposable
{
    readonly Gpt replica;
    readonly Thread thread;
    readonly SemaphoreSlim start = new(0), done = new(0);
    readonly Device device;
    long[] inputs = [], targets = [];
    int rows, context;
    double scale;
    volatile bool stopping;
    Exception? error;

    /// <summary>The last micro-batch's mean loss on this replica's rows.</summary>
    public double Loss { get; private set; }

    public Gpt Model => replica;

    public ReplicaWorker(Gpt model)
    {
        replica = new Gpt(model.Config);
        device = model.parameters().First().device;
        if (device.type != TorchSharp.DeviceType.CPU) TorchSharp.ModuleExtensionMethods.to(replica, device);
        CopyWeightsFrom(model);
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

    /// <summary>Adds this replica's gradients into <paramref name="model"/>'s and clears its own.</summary>
    public void AddGradientsTo(Gpt model)
    {
        using var _ = no_grad();
        foreach (var (mine, theirs) in replica.parameters().Zip(model.parameters()))
        {
            if (mine.grad is not { } g) continue;
            if (theirs.grad is { } t) t.add_(g);
            else theirs.grad = g.clone();
            g.zero_();
        }
    }

    public void CopyWeightsFrom(Gpt model)
    {
        using var _ = no_grad();
        foreach (var (mine, theirs) in replica.parameters().Zip(model.parameters())) mine.copy_(theirs);
    }

    public void Dispose()
    {
        stopping = true;
        start.Release();
        thread.Join();
        replica.Dispose();
    }
}
