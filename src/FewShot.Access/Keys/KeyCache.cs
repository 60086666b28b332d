using System.Collections.Concurrent;
using FewShot.Access.Storage;

namespace FewShot.Access.Keys;

/// <summary>
/// Keys read from a shared store (PostgreSQL), kept for a moment: at thousands of requests a second nearly every request
/// presents a key that was read a few milliseconds earlier, and reading it again costs a round trip to the database and
/// three JSON parses. A change made on another instance is seen once the entry is older than the time it is kept (a
/// fraction of the one second within which a revocation must count everywhere); one made through this process clears the
/// cache at once. Only keys that were found are kept, so a flood of made-up keys fills nothing. An entry past half its
/// time is read again in the background while it is still served, so steady traffic on a key never waits for the store;
/// no entry is served past its time.
/// </summary>
/// <param name="milliseconds">The clock (default: Environment.TickCount64; tests move their own).</param>
sealed class KeyCache(TimeSpan keepFor, Func<long>? milliseconds = null)
{
    readonly Func<long> clock = milliseconds ?? (() => Environment.TickCount64);
    const int MaxEntries = 100_000;
    readonly ConcurrentDictionary<string, (KeyMatch Match, long Until)> entries = new();
    /// <summary>The keys being read again in the background (one read each at a time).</summary>
    readonly ConcurrentDictionary<string, byte> refreshing = new();
    readonly long keepForMs = (long)keepFor.TotalMilliseconds;
    long generation;

    /// <summary>
    /// The entry <paramref name="name"/> while it is fresh, else what <paramref name="read"/> finds (kept when found).
    /// <paramref name="read"/> is also what reads the entry again ahead of its time, then with no cancellation.
    /// </summary>
    public async Task<KeyMatch?> GetAsync(string name, Func<CancellationToken, Task<KeyMatch?>> read, CancellationToken cancel = default)
    {
        if (keepForMs <= 0) return await read(cancel);
        var now = clock();
        if (entries.TryGetValue(name, out var entry) && entry.Until > now)
        {
            if (entry.Until - now < keepForMs / 2 && refreshing.TryAdd(name, 0)) _ = RefreshAsync(name, read);
            return entry.Match;
        }
        return await ReadAsync(name, read, cancel);
    }

    async Task<KeyMatch?> ReadAsync(string name, Func<CancellationToken, Task<KeyMatch?>> read, CancellationToken cancel)
    {
        // Kept from when the read started: what it returns is at least that fresh.
        var startedAt = clock();
        var readAt = Interlocked.Read(ref generation);
        var match = await read(cancel);
        if (match is null)
        {
            entries.TryRemove(name, out _);
            return null;
        }
        if (entries.Count >= MaxEntries) entries.Clear();
        // A change made through this process while the read ran may have been missed by it: then it is not kept.
        if (Interlocked.Read(ref generation) == readAt) entries[name] = (match, startedAt + keepForMs);
        return match;
    }

    async Task RefreshAsync(string name, Func<CancellationToken, Task<KeyMatch?>> read)
    {
        try { await ReadAsync(name, read, CancellationToken.None); }
        catch (Exception) { }  // the entry runs out at its time, and the next request reads it itself (meeting any error there)
        finally { refreshing.TryRemove(name, out _); }
    }

    /// <summary>Forgets every key (one was changed through this process).</summary>
    public void Clear()
    {
        Interlocked.Increment(ref generation);
        entries.Clear();
    }
}
