namespace FewShot.Training.Batches;

/// <summary>
/// A small random generator whose whole state is one 64-bit number (SplitMix64), so that a checkpoint can store it
/// and a resumed run draws exactly the same numbers.
/// </summary>
public sealed class SplitMix64(ulong state)
{
    public ulong State { get; set; } = state;

    public ulong Next()
    {
        var z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A number in [0, n): the high 64 bits of a 128-bit product (Lemire's reduction, bias below 2^-40 here).</summary>
    public long Below(long n) => (long)Math.BigMul(Next(), (ulong)n, out _);
}
