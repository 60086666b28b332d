using FewShot.Model;
using System.Diagnostics;
using System.Runtime.Intrinsics;
using FewShot.Model.Inference;

namespace FewShot.Benchmarks;

/// <summary>
/// The machine's streaming read bandwidth as the fastest reader sees it: every thread sums its share of a buffer far
/// larger than the last-level cache with 512-bit loads (four independent accumulators, no writes), best of several
/// passes. Batch-1 decoding reads each weight once per token, so bytes per token over this rate bounds tokens/s.
/// </summary>
public static unsafe class StreamBandwidth
{
    public static double BytesPerSecond(int threads, long bytes = 1L << 30, int passes = 8)
    {
        var floats = bytes / 4 / 64 * 64;
        using var buffer = new AlignedBuffer<float>(floats);
        new Span<float>(buffer.Pointer, (int)Math.Min(floats, int.MaxValue)).Fill(1f); // touch every page before timing
        using var team = new WorkerTeam(threads);
        var sums = new float[team.Threads];
        var blocks = (int)(floats / 64); // 256-byte blocks
        void Read(int first, int end, int part)
        {
            var p = buffer.Pointer;
            Vector512<float> a = default, b = default, c = default, d = default;
            for (long i = (long)first * 64; i < (long)end * 64; i += 64)
            {
                a += Vector512.Load(p + i);
                b += Vector512.Load(p + i + 16);
                c += Vector512.Load(p + i + 32);
                d += Vector512.Load(p + i + 48);
            }
            sums[part] += Vector512.Sum((a + b) + (c + d));
        }
        team.For(blocks, Read, grain: 4096); // warm-up
        var best = double.MaxValue;
        for (var i = 0; i < passes; i++)
        {
            var watch = Stopwatch.StartNew();
            team.For(blocks, Read, grain: 4096);
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        if (float.IsNaN(sums.Sum())) throw new InvalidOperationException("unreachable: keeps the reads alive");
        return floats * 4.0 / best;
    }
}
