using System.Collections.Concurrent;
using FewShot.Access.Storage;

namespace FewShot.Access.Keys;

/// <summary>
/// Keys read from a shared store (PostgreSQL), kept for a moment: at thousands of requests a second nearly every request
/// presents a key that was read a few milliseconds earlier, and reading it again costs a round trip to the database and
/// three JSON parses. A change made on another instance is seen once the entry is older than the time it is kept (a
/// fraction of the one second within which a revocation must count everywhere); one made through this process clears the
/// cache at once. Only keys that were found are kept, so a flood of made-up keys fills nothing.
/// </summary>
sealed class KeyCache(TimeSpan keepFor)
{
    const int MaxEntries = 100_000;
    readonly ConcurrentDictionary<string, (KeyMatch Match, long Until)> entries = new();
    readonly long keepForMs = (long)keepFor.TotalMilliseconds;
    long generation;

    /// <summary>The entry <paramref name="name"/> while it is fresh, else what <paramref name="read"/> finds (kept when found).</summary>
    public async Task<KeyMatch?> GetAsync(string name, Func<Task<KeyMatch?>> read)
    {
        if (keepForMs <= 0) return await read();
        var now = Environment.TickCount64;
        if (entries.TryGetValue(name, out var entry) && entry.Until > now) return entry.Match;
        var readAt = Interlocked.Read(ref generation);
        var match = await read();
        if (match is null)
        {
            entries.TryRemove(name, out _);
            return null;
        }
        if (entries.Count >= MaxEntries) entries.Clear();
        // A change made through this process while the read ran may have been missed by it: then it is not kept.
        if (Interlocked.Read(ref generation) == readAt) entries[name] = (match, now + keepForMs);
        return match;
    }

    /// <summary>Forgets every key (one was changed through this process).</summary>
    public void Clear()
    {
        Interlocked.Increment(ref generation);
        entries.Clear();
    }
}
