namespace FewShot.Data.Dedup;

/// <summary>Exact duplicates by a 64-bit content hash of the cleaned text (8 bytes per kept document), across all sources.</summary>
public sealed class ExactDeduplicator
{
    readonly HashSet<ulong> seen = [];

    public static ulong Hash(string text) => TextHash.Of(text, seed: 0x5EED);

    /// <summary>True the first time a hash is offered, false for every repeat.</summary>
    public bool TryAdd(ulong hash) => seen.Add(hash);

    public int Count => seen.Count;
}
