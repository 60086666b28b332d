using System.Diagnostics;
using static TorchSharp.torch;

namespace FewShot.Benchmarks;

/// <summary>What this machine can do at best, measured in the same run as the benchmark it is compared with.</summary>
public static class ReferenceRates
{
    /// <summary>
    /// Bytes/s of an fp32 matrix-vector product over one weight matrix of <paramref name="bytes"/> bytes (rows of
    /// <paramref name="width"/> floats): the rate at which batch-1 decoding can stream weights, best of several runs.
    /// </summary>
    public static double MatvecBytesPerSecond(long bytes, int width, int runs = 20)
    {
        using var scope = NewDisposeScope();
        var rows = Math.Max(1, bytes / 4 / width);
        var matrix = randn(rows, width);
        var vector = randn(width);
        matrix.mv(vector).Dispose();
        var best = double.MaxValue;
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            matrix.mv(vector).Dispose();
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return rows * width * 4.0 / best;
    }

    /// <summary>This process's resident set size in bytes, after a full garbage collection (so only what is retained counts).</summary>
    public static long ResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.WorkingSet64;
    }
}
