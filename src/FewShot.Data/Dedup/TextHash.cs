using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace FewShot.Data.Dedup;

/// <summary>Fast, stable 64-bit hashes of text and words (XxHash3 of UTF-16 code units), and a mixer for derived hashes.</summary>
public static class TextHash
{
    public static ulong Of(ReadOnlySpan<char> text, long seed = 0) => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(text), seed);

    /// <summary>SplitMix64's finaliser: a cheap bijective scrambling of a 64-bit value.</summary>
    public static ulong Mix(ulong x)
    {
        x ^= x >> 30; x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27; x *= 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
