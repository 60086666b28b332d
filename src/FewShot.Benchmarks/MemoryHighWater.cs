namespace FewShot.Benchmarks;

/// <summary>
/// Peak resident memory of a piece of work on Linux: resets the kernel's high-water mark (/proc/self/clear_refs, "5"),
/// runs the work, and reads VmHWM from /proc/self/status. Elsewhere it reports 0.
/// </summary>
public static class MemoryHighWater
{
    const int MallocMmapThreshold = -3; // M_MMAP_THRESHOLD in glibc's malloc.h

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mallopt")]
    static extern int MallOpt(int parameter, int value);

    /// <summary>
    /// Makes glibc serve every allocation over 64 KiB with its own mapping and return it on free. Without this, glibc
    /// raises its threshold after the first large free, keeps later tensors in the heap, and the high-water mark of a
    /// repeated computation stops showing its working memory.
    /// </summary>
    public static void UseFreshMappingsForLargeAllocations()
    {
        if (OperatingSystem.IsLinux()) MallOpt(MallocMmapThreshold, 64 * 1024);
    }

    public static long PeakBytesDuring(Action work)
    {
        // Memory freed earlier but still held in the heap would be reused without raising the mark: give it back first.
        FewShot.Model.Runtime.NativeHeap.Trim();
        var baseline = ReferenceRates.ResidentBytes();
        var reset = TryReset();
        work();
        return reset ? Math.Max(0, ReadKilobytes("VmHWM:") * 1024 - baseline) : 0;
    }

    static bool TryReset()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    static long ReadKilobytes(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line[field.Length..].Trim().Split(' ')[0]);
        return 0;
    }
}
