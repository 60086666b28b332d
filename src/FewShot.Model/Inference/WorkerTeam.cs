using System.Diagnostics;

namespace FewShot.Model.Inference;

/// <summary>
/// Splits a loop over [0, total) among the calling thread and threads - 1 resident workers. A decoding step is a few
/// dozen such loops of 10-500 microseconds each, too short for the thread pool's wake-up latency, so a worker spins
/// for a short while after each loop before it sleeps (the next loop of a step starts at once; an idle server leaves
/// the cores alone). Parts are claimed, not assigned: whoever is running takes the next unclaimed part, so when a
/// worker is descheduled (a busy machine) the caller does its share instead of waiting a whole time slice for it.
/// </summary>
public sealed class WorkerTeam : IDisposable
{
    const long SpinMicroseconds = 300; // how long an idle worker waits for the next loop before it sleeps
    const int PartsPerThread = 4;

    // One loop: its body and range, and the counters its participants claim parts with.
    sealed class Loop(Action<int, int, int> body, int total, int grain, int parts)
    {
        public readonly Action<int, int, int> Body = body;
        public readonly int Total = total, Grain = grain, Parts = parts;
        public int Next;      // next unclaimed part
        public int Remaining = parts; // parts not yet finished
        public Exception? Failure;
    }

    readonly Thread[] workers;
    readonly SemaphoreSlim[] wake;
    readonly int[] sleeping;
    volatile Loop? current;
    int generation;
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
            var participant = w + 1;
            workers[w] = new Thread(() => Work(participant)) { IsBackground = true, Name = $"fewshot-decode-{participant}" };
            workers[w].Start();
        }
    }

    /// <summary>
    /// Runs body(first, end, participant) over contiguous parts of [0, total); participant is 0 for the caller and
    /// 1..threads-1 for the workers (an index for per-thread scratch). Parts are multiples of <paramref name="grain"/>
    /// (except the last). Loops with fewer than <paramref name="minimumUnits"/> grains run on the caller alone.
    /// </summary>
    public void For(int total, Action<int, int, int> body, int grain = 1, int minimumUnits = 2)
    {
        var units = (total + grain - 1) / grain;
        if (Threads == 1 || units < Math.Max(2, minimumUnits)) { body(0, total, 0); return; }
        var loop = new Loop(body, total, grain, Math.Min(units, Threads * PartsPerThread));
        current = loop;
        Interlocked.Increment(ref generation);
        for (var w = 0; w < workers.Length; w++)
            if (Volatile.Read(ref sleeping[w]) == 1) wake[w].Release();
        RunParts(loop, 0);
        var spin = new SpinWait();
        while (Volatile.Read(ref loop.Remaining) != 0) spin.SpinOnce(sleep1Threshold: -1);
        current = null;
        if (loop.Failure is { } e) throw new AggregateException("a decoding worker failed", e);
    }

    static void RunParts(Loop loop, int participant)
    {
        int part;
        while ((part = Interlocked.Increment(ref loop.Next) - 1) < loop.Parts)
        {
            try
            {
                var units = (loop.Total + loop.Grain - 1) / loop.Grain;
                var first = (int)Math.Min(loop.Total, (long)units * part / loop.Parts * loop.Grain);
                var end = (int)Math.Min(loop.Total, (long)units * (part + 1) / loop.Parts * loop.Grain);
                if (first < end) loop.Body(first, end, participant);
            }
            catch (Exception e) { Interlocked.CompareExchange(ref loop.Failure, e, null); }
            finally { Interlocked.Decrement(ref loop.Remaining); }
        }
    }

    void Work(int participant)
    {
        var w = participant - 1;
        var seen = 0;
        while (true)
        {
            var started = Stopwatch.GetTimestamp();
            while (Volatile.Read(ref generation) == seen && !disposed)
            {
                if (Stopwatch.GetElapsedTime(started).Ticks / 10 < SpinMicroseconds) { Thread.SpinWait(20); continue; }
                // Announce the sleep, then look once more: the caller either sees the flag and wakes us, or we see its loop.
                Interlocked.Exchange(ref sleeping[w], 1);
                if (Volatile.Read(ref generation) == seen && !disposed) wake[w].Wait();
                Interlocked.Exchange(ref sleeping[w], 0);
                started = Stopwatch.GetTimestamp();
            }
            if (disposed) return;
            seen = Volatile.Read(ref generation);
            if (current is { } loop) RunParts(loop, participant); // a stale loop has no parts left: nothing happens
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
