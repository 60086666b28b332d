using System.Runtime.Intrinsics.X86;
using FewShot.Model.Inference;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

/// <summary>
/// The collection of tests that change process-wide settings (libtorch's intra-op threads, the kernels' vector
/// switch): it runs alone, so no other test sees a setting meant for one.
/// </summary>
[CollectionDefinition(Collection, DisableParallelization = true)]
public sealed class ProcessWideSettings
{
    public const string Collection = "process-wide settings";
}

/// <summary>
/// libtorch's intra-op threads set to one for a test (the condition under which the fused kernels run), and restored
/// after. Tests that use it sit in <see cref="ProcessWideSettings"/>.
/// </summary>
sealed class OneIntraOpThread : IDisposable
{
    readonly int previous = get_num_threads();

    public OneIntraOpThread() => set_num_threads(1);

    public void Dispose() => set_num_threads(previous);
}

/// <summary>
/// The kernels' vector paths (where the CPU has AVX-512) or their scalar paths for a test, and the vectors again after.
/// Tests that use it sit in <see cref="ProcessWideSettings"/>.
/// </summary>
sealed class KernelPath : IDisposable
{
    public KernelPath(bool vectors) => Kernels.UseVectors = vectors && Avx512F.IsSupported;

    public void Dispose() => Kernels.UseVectors = Avx512F.IsSupported;
}
