using System.Runtime.InteropServices;

namespace FewShot.Model.Runtime;

/// <summary>
/// Gives the C heap's free pages back to the kernel (glibc's malloc_trim). libtorch takes every CPU tensor from
/// malloc, and glibc serves all but the largest from its heaps: its mmap threshold rises to the largest block freed
/// so far (the matmul probe's 16 MiB matrices, or the first logits), so activations, gradients and temporaries of
/// every size share the heaps. A training step's mix of sizes fragments them, glibc only returns memory from the
/// top of a heap, and the free holes stay resident: measured on a 0.5M-parameter model, malloc's live bytes stay at
/// ~75 MB while its free bytes grow from ~60 MB to ~300 MB over 1,000 steps (live tensor handles and the managed heap
/// are constant, so nothing leaks). malloc_trim also releases whole free pages inside the heaps.
/// </summary>
public static class NativeHeap
{
    [DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);

    static bool unavailable;

    /// <summary>Trims the heaps; false where there is no glibc (another OS, or a C library without malloc_trim).</summary>
    public static bool Trim()
    {
        if (unavailable || !OperatingSystem.IsLinux()) return false;
        try
        {
            MallocTrim(0);
            return true;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            unavailable = true;
            return false;
        }
    }
}
