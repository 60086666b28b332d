using System.Buffers.Binary;
using FewShot.Data.Dedup;

namespace FewShot.Data.Contamination;

/// <summary>
/// A set of word n-gram hashes (13-grams as in GPT-3's Section 4; words lower-cased, punctuation removed) that answers
/// "does this text share an n-gram with the indexed texts?". Built over evaluation sets to decontaminate training
/// data, or (sampled: only hashes divisible by <see cref="Sampling"/>) over training data so that evaluation can flag
/// contaminated examples. Saved as a small binary file: "FSNG", n, sampling, count, sorted 64-bit hashes.
/// </summary>
public sealed class ContaminationIndex
{
    public const int DefaultN = 13;
    readonly ulong[] sorted;

    ContaminationIndex(ulong[] sorted, int n, int sampling) { this.sorted = sorted; N = n; Sampling = sampling; }

    public int N { get; }
    /// <summary>1 = every n-gram; k = only n-grams whose hash is divisible by k (a long shared passage is still found).</summary>
    public int Sampling { get; }
    public long Count => sorted.Length;

    public static ContaminationIndex Build(IEnumerable<string> texts, int n = DefaultN, int sampling = 1)
    {
        var set = new HashSet<ulong>();
        foreach (var text in texts) foreach (var h in NGrams(text, n)) if (h % (ulong)sampling == 0) set.Add(h);
        return FromHashes(set, n, sampling);
    }

    public static ContaminationIndex FromHashes(IEnumerable<ulong> hashes, int n, int sampling)
    {
        var array = hashes.ToArray();
        Array.Sort(array);
        var unique = array.Length == 0 ? 0 : 1;
        for (var i = 1; i < array.Length; i++) if (array[i] != array[unique - 1]) array[unique++] = array[i];
        return new ContaminationIndex(array[..unique], n, sampling);
    }

    /// <summary>True when <paramref name="text"/> shares at least one (sampled) n-gram with the index.</summary>
    public bool Overlaps(string text) => CountOverlaps(text, stopAtFirst: true) > 0;

    /// <summary>
    /// Evaluation's question: null when the text has fewer than <see cref="N"/> words (it holds no n-gram, so the index
    /// cannot say), else whether it overlaps.
    /// </summary>
    public bool? Check(string text) => Words.Hashes(text).Count < N ? null : Overlaps(text);

    /// <summary>How many of the text's (sampled) n-grams are in the index.</summary>
    public int CountOverlaps(string text, bool stopAtFirst = false)
    {
        var found = 0;
        foreach (var h in NGrams(text, N))
            if (h % (ulong)Sampling == 0 && Array.BinarySearch(sorted, h) >= 0)
            {
                found++;
                if (stopAtFirst) break;
            }
        return found;
    }

    /// <summary>Hashes of every run of <paramref name="n"/> consecutive words (none when the text is shorter).</summary>
    public static IEnumerable<ulong> NGrams(string text, int n = DefaultN)
    {
        var words = Words.Hashes(text);
        for (var i = 0; i + n <= words.Count; i++)
        {
            ulong h = 0xCBF29CE484222325UL ^ (ulong)n;
            for (var j = i; j < i + n; j++) h = TextHash.Mix(h ^ words[j]);
            yield return h;
        }
    }

    public void Save(string path) => Model.AtomicFile.Write(path, stream =>
    {
        Span<byte> header = stackalloc byte[20];
        "FSNG"u8.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], N);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], Sampling);
        BinaryPrimitives.WriteInt64LittleEndian(header[12..], sorted.Length);
        stream.Write(header);
        var buffer = new byte[8 * 8192];
        for (var i = 0; i < sorted.Length; i += 8192)
        {
            var count = Math.Min(8192, sorted.Length - i);
            for (var j = 0; j < count; j++) BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(8 * j), sorted[i + j]);
            stream.Write(buffer, 0, 8 * count);
        }
    });

    public static ContaminationIndex Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: n-gram index not found");
        using var stream = File.OpenRead(path);
        Span<byte> header = stackalloc byte[20];
        if (stream.Read(header) != 20 || !header[..4].SequenceEqual("FSNG"u8)) throw new FormatException($"{path}: not an n-gram index (bad header)");
        var n = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        var sampling = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        var count = BinaryPrimitives.ReadInt64LittleEndian(header[12..]);
        if (n < 1 || sampling < 1 || count < 0 || stream.Length != 20 + 8 * count) throw new FormatException($"{path}: truncated or corrupt n-gram index");
        var hashes = new ulong[count];
        var buffer = new byte[8 * 8192];
        for (long i = 0; i < count; i += 8192)
        {
            var m = (int)Math.Min(8192, count - i);
            stream.ReadExactly(buffer, 0, 8 * m);
            for (var j = 0; j < m; j++) hashes[i + j] = BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(8 * j));
        }
        return new ContaminationIndex(hashes, n, sampling);
    }
}
