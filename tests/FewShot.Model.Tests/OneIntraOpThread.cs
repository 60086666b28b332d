using static TorchSharp.torch;

namespace FewShot.Model.Tests;

/// <summary>
/// libtorch's intra-op threads set to one for a test (the condition under which the fused kernels run), and restored
/// after. The setting is process-wide, so tests that use it sit in a collection that runs alone.
/// </summary>
sealed class OneIntraOpThread : IDisposable
{
    public const string Collection = "one intra-op thread";

    readonly int previous = get_num_threads();

    public OneIntraOpThread() => set_num_threads(1);

    public void Dispose() => set_num_threads(previous);
}

[CollectionDefinition(OneIntraOpThread.Collection, DisableParallelization = true)]
public sealed class OneIntraOpThreadCollection;
