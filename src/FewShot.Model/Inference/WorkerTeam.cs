using System.Diagnostics;

namespace FewShot.Model.Inference;

/// <summary>
/// Splits a loop over [0, total) among the calling thread and threads - 1 resident workers. A decoding step is a few
/// dozen such loops of 10-500 microseconds each, too short for the thread pool's wake-up latency, so a worker spins
/// for a short while after each loop before it sleeps (the next loop of a step starts at once; an idle server leaves
/// the cores alone). Each participant has a home range, a contiguous 1/threads of the loop (<see cref="HomeStart"/>),
/// whose parts it claims from the front; one that runs out helps others by claiming their parts from the back. So
/// each thread streams one contiguous piece of a matrix (the fused decoder lays its F32 weights out so that a
/// thread's pieces of consecutive matrices are also contiguous), and when a worker is descheduled (a busy machine)
/// the others do its share instead of waiting a whole time slice for it.
/// </summary>
public sealed class WorkerTeam : IDisposable
{
    const long SpinMicroseconds = 300; // how long an idle worker waits for the next loop before it sleeps
    const int PartsPerThread = 4;

    // One loop: its body and range, and the unclaimed parts of each participant's home range.
    sealed class Loop
    {
        public readonly Action<int, int, int> Body;
        public readonly int Total, Grain, Parts;
        public int Remaining; // parts not yet finished
        public Exception? Failure;
        readonly long[] unclaimed; // participant p's unclaimed parts [front, back), packed as front | back << 32

        public Loop(Action<int, int, int> body, int total, int grain, int parts, int participants)
        {
            (Body, Total, Grain, Parts, Remaining) = (body, total, grain, parts, parts);
            unclaimed = new long[participants];
            for (var p = 0; p < participants; p++) unclaimed[p] = Pack(parts * p / participants, parts * (p + 1) / participants);
        }

        static long Pack(int front, int back) => (uint)front | (long)back << 32;

        // The next part for this participant: the front of its own range, else the back of another's; Parts when none is left.
        public int Claim(int participant)
        {
            for (var i = 0; i < unclaimed.Length; i++)
            {
                var owner = (participant + i) % unclaimed.Length;
                while (true)
                {
                    var state = Volatile.Read(ref unclaimed[owner]);
                    var (front, back) = ((int)(uint)state, (int)(state >> 32));
                    if (front >= back) break;
                    var own = owner == participant;
                    if (Interlocked.CompareExchange(ref unclaimed[owner], own ? Pack(front + 1, back) : Pack(front, back - 1), state) == state)
                        return own ? front : back - 1;
                }
            }
            return Parts;
        }
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
    /// Where participant p's home range of a loop over [0, total) in parts of <paramref name="grain"/> starts (p =
    /// participants: the end), for every loop that runs on all participants. Parts split the grains evenly: part k of
    /// K starts at grain units * k / K, and participant p's parts are K * p / P.., with K a multiple of P (or K = units).
    /// </summary>
    public static int HomeStart(int total, int grain, int participant, int participants)
    {
        var units = ((long)total + grain - 1) / grain;
        return (int)Math.Min(total, units * participant / participants * grain);
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
        var loop = new Loop(body, total, grain, Math.Min(units, Threads * PartsPerThread), Threads);
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
        while ((part = loop.Claim(participant)) < loop.Parts)
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
