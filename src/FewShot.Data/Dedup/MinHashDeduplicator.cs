namespace FewShot.Data.Dedup;

/// <summary>MinHash settings. GPT-3 used 10 hashes; 5 bands of 2 rows find pairs above ~0.5 Jaccard with high probability.</summary>
public sealed record MinHashOptions
{
    public int NumHashes { get; init; } = 10;
    public int RowsPerBand { get; init; } = 2;
    /// <summary>Words per shingle.</summary>
    public int ShingleWords { get; init; } = 5;
    /// <summary>A candidate is a duplicate when at least this share of its MinHash values equal the earlier document's.</summary>
    public double Threshold { get; init; } = 0.5;
}

/// <summary>
/// Near-duplicate detection by MinHash over word shingles with locality-sensitive hashing: a document's signature
/// is split into bands; documents sharing a band are candidates and are confirmed by signature agreement. The
/// first document offered wins (mixture order, then reading order). Work and memory are linear in the number of
/// documents: one dictionary lookup per band and 4 bytes per hash per kept document.
/// </summary>
public sealed class MinHashDeduplicator
{
    readonly MinHashOptions options;
    readonly int bands;
    readonly Dictionary<ulong, int>[] tables;
    readonly List<uint> signatures = [];   // kept documents' signatures, NumHashes each

    public MinHashDeduplicator(MinHashOptions? options = null)
    {
        this.options = options ??= new MinHashOptions();
        if (options.NumHashes < 1 || options.RowsPerBand < 1 || options.NumHashes % options.RowsPerBand != 0)
            throw new ArgumentException($"MinHash needs NumHashes ({options.NumHashes}) to be a positive multiple of RowsPerBand ({options.RowsPerBand})");
        bands = options.NumHashes / options.RowsPerBand;
        tables = [.. Enumerable.Range(0, bands).Select(_ => new Dictionary<ulong, int>())];
    }

    /// <summary>The document's MinHash signature (pure; call from any thread).</summary>
    public static uint[] Signature(string text, MinHashOptions options)
    {
        var words = Words.Hashes(text);
        var mins = new ulong[options.NumHashes];
        Array.Fill(mins, ulong.MaxValue);
        var k = options.ShingleWords;
        var count = Math.Max(1, words.Count - k + 1);
        for (var s = 0; s < count; s++)
        {
            ulong shingle = 0x9E3779B97F4A7C15UL;
            for (var j = s; j < Math.Min(s + k, words.Count); j++) shingle = TextHash.Mix(shingle ^ words[j]);
            for (var h = 0; h < mins.Length; h++)
            {
                var v = TextHash.Mix(shingle ^ Seeds[h]);
                if (v < mins[h]) mins[h] = v;
            }
        }
        return [.. mins.Select(m => (uint)(m >> 32))];
    }

    /// <summary>False when the document is a near-duplicate of one kept before; true (and remembered) otherwise.</summary>
    public bool TryAdd(uint[] signature)
    {
        var keys = new ulong[bands];
        for (var b = 0; b < bands; b++)
        {
            ulong key = (ulong)b * 0x100000001B3UL;
            for (var r = 0; r < options.RowsPerBand; r++) key = TextHash.Mix(key ^ signature[b * options.RowsPerBand + r]);
            keys[b] = key;
            if (tables[b].TryGetValue(key, out var other) && Agreement(signature, other) >= options.Threshold) return false;
        }
        var id = signatures.Count / options.NumHashes;
        signatures.AddRange(signature);
        for (var b = 0; b < bands; b++) tables[b].TryAdd(keys[b], id);
        return true;
    }

    double Agreement(uint[] signature, int other)
    {
        var same = 0;
        for (var h = 0; h < signature.Length; h++) if (signatures[other * options.NumHashes + h] == signature[h]) same++;
        return (double)same / signature.Length;
    }

    static readonly ulong[] Seeds = [.. Enumerable.Range(1, 256).Select(i => TextHash.Mix((ulong)i * 0xD1B54A32D192ED03UL))];
}
