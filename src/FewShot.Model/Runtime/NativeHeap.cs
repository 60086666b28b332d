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

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int MallOpt(int parameter, int value);

    const int TrimThreshold = -1, TopPad = -2, MmapThreshold = -3; // glibc's M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD

    static bool unavailable;

    /// <summary>
    /// Keeps freed memory in the heaps until the next <see cref="Trim"/>, for a loop that trims on its own schedule:
    /// blocks up to 32 MiB come from the heaps (a fixed mmap threshold), and glibc no longer gives the top of a heap
    /// back whenever a step's temporaries free more than its dynamic trim threshold - which, depending on where the
    /// step's blocks land, happened every step, and every page came back as a page fault in the next. A 64 MiB top
    /// pad does the same for the other threads' arenas: when a thread's blocks outgrow its first 64 MiB heap, glibc
    /// unmaps the second heap whenever it empties (the trim threshold does not govern that) and maps it again on the
    /// next allocation. On the Shakespeare run the trainer's thread did so ~20 times a step: 300 steps took 1.59M page
    /// faults and 25.0 s of CPU, with the pad 0.35M and 22.6 s.
    /// </summary>
    public static bool KeepFreedMemoryUntilTrim()
    {
        if (unavailable || !OperatingSystem.IsLinux()) return false;
        try
        {
            return MallOpt(MmapThreshold, 32 << 20) == 1 && MallOpt(TrimThreshold, int.MaxValue) == 1 && MallOpt(TopPad, 64 << 20) == 1;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            unavailable = true;
            return false;
        }
    }

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
