using System.Diagnostics;

namespace FewShot.Model.Inference;

/// <summary>
/// Splits a loop over [0, total) among the calling thread and threads - 1 resident workers (fork-join).
/// A decoding step is a few dozen such loops of 10-500 microseconds each, too short for the thread pool's wake-up
/// latency: a worker spins for a short while after each loop before it sleeps, so the next loop of the same step
/// starts at once, while an idle server leaves the cores free.
/// </summary>
public sealed class WorkerTeam : IDisposable
{
    const long SpinTicksMicroseconds = 300; // how long an idle worker waits for the next loop before it sleeps

    readonly Thread[] workers;
    readonly SemaphoreSlim[] wake;
    readonly int[] sleeping;
    Action<int, int, int>? body; // (first, end, part)
    int total;
    int generation;
    int pending;
    volatile bool disposed;

    public int Threads { get; }

    public WorkerTeam(int threads)
    {
        Threads = Math.Max(1, threads);
        workers = new Thread[Threads - 1];
        wake = new SemaphoreSlim[Threads - 1];
        sleeping = new int[Threads - 1];
        for (var w = 0; w < workers.Length; w++)
        {
            wake[w] = new SemaphoreSlim(0);
            var part = w + 1;
            workers[w] = new Thread(() => Work(part)) { IsBackground = true, Name = $"fewshot-decode-{part}" };
            workers[w].Start();
        }
    }

    /// <summary>
    /// Runs body(first, end, part) over contiguous parts of [0, total), one part per thread; part 0 on the caller.
    /// Parts are multiples of <paramref name="grain"/> (except the last), so that e.g. rows stay cache-line aligned.
    /// </summary>
    public void For(int total, Action<int, int, int> body, int grain = 1)
    {
        var parts = Math.Min(Threads, (total + grain - 1) / grain);
        if (parts <= 1) { body(0, total, 0); return; }
        this.body = body;
        this.total = total;
        this.grain = grain;
        Volatile.Write(ref pending, Threads - 1);
        Interlocked.Increment(ref generation);
        for (var w = 0; w < workers.Length; w++)
            if (Volatile.Read(ref sleeping[w]) == 1) wake[w].Release();
        try { RunPart(0); }
        finally
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            this.body = null;
        }
        if (Interlocked.Exchange(ref failure, null) is { } e) throw new AggregateException("a decoding worker failed", e);
    }

    int grain;
    Exception? failure;

    void RunPart(int part)
    {
        var (first, end) = Range(part);
        if (first < end) body!(first, end, part);
    }

    (int First, int End) Range(int part)
    {
        var units = (total + grain - 1) / grain;
        var first = (int)Math.Min(total, (long)units * part / Threads * grain);
        var end = (int)Math.Min(total, (long)units * (part + 1) / Threads * grain);
        return (first, end);
    }

    void Work(int part)
    {
        var w = part - 1;
        var seen = 0;
        while (true)
        {
            var started = Stopwatch.GetTimestamp();
            while (Volatile.Read(ref generation) == seen && !disposed)
            {
                if (Stopwatch.GetElapsedTime(started).Ticks / 10 < SpinTicksMicroseconds) { Thread.SpinWait(20); continue; }
                // Announce the sleep, then look once more: the caller either sees the flag and wakes us, or we see its loop.
                Interlocked.Exchange(ref sleeping[w], 1);
                if (Volatile.Read(ref generation) == seen && !disposed) wake[w].Wait();
                Interlocked.Exchange(ref sleeping[w], 0);
                started = Stopwatch.GetTimestamp();
            }
            if (disposed) return;
            seen = Volatile.Read(ref generation);
            try { RunPart(part); }
            catch (Exception e) { Interlocked.CompareExchange(ref failure, e, null); }
            finally { Interlocked.Decrement(ref pending); }
        }
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var s in wake) s.Release();
        foreach (var t in workers) t.Join();
        foreach (var s in wake) s.Dispose();
    }
}
