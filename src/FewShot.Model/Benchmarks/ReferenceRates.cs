using System.Diagnostics;
using static TorchSharp.torch;

namespace FewShot.Model.Benchmarks;

/// <summary>What this machine can do at best, measured in the same run as the benchmark it is compared with.</summary>
public static class ReferenceRates
{
    /// <summary>fp32 FLOP/s of an n x n by n x n matrix multiply, best of <paramref name="runs"/>.</summary>
    public static double MatmulFlopsPerSecond(int n = 2048, int runs = 5)
    {
        using var scope = NewDisposeScope();
        var a = randn(n, n);
        var b = randn(n, n);
        a.matmul(b).Dispose(); // warm up the kernels and the allocator
        var best = double.MaxValue;
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            a.matmul(b).Dispose();
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return 2.0 * n * n * n / best;
    }

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
