using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FewShot.Model.Tokenization;

/// <summary>
/// A byte-level BPE trained on the user's corpus (GPT-2's scheme): text is split by GPT-2's pre-tokenization regex,
/// each piece becomes UTF-8 bytes shown as printable characters (<see cref="ByteToChar"/>), and merges are applied
/// lowest rank first. Saved as GPT-2's vocab.json (token string to id) and merges.txt ("a b" per line, rank order).
/// The end-of-text token is "&lt;|endoftext|&gt;", the last id.
/// </summary>
public sealed partial class BpeTokenizer : ITokenizer
{
    public const string EndOfTextToken = "<|endoftext|>";

    readonly string[] tokens;                                  // id -> token string (byte characters)
    readonly Dictionary<long, (int Rank, int Id)> merges;      // (left id, right id) -> rank and merged id
    readonly int[] byteIds = new int[256];                     // byte value -> id of its single-byte token
    readonly ConcurrentDictionary<string, int[]> cache = new();
    int cached;                                                // entries in the cache (ConcurrentDictionary.Count locks every bucket)
    /// <summary>A regex per concurrent caller: one shared instance makes every other thread build a runner per call.</summary>
    static readonly ConcurrentInstances<Regex> PreTokenizers = new(() => new Regex(PreTokenizationPattern, RegexOptions.Compiled));
    readonly string vocabFile, mergesFile;

    public BpeTokenizer(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> mergeList,
        string vocabFile = "vocab.json", string mergesFile = "merges.txt")
    {
        this.vocabFile = vocabFile;
        this.mergesFile = mergesFile;
        tokens = new string[vocab.Count];
        foreach (var (token, id) in vocab)
        {
            if (id < 0 || id >= tokens.Length || tokens[id] is not null) throw new FormatException($"vocabulary ids must be 0..{tokens.Length - 1} without gaps (bad id {id} for '{token}')");
            tokens[id] = token;
        }
        for (var b = 0; b < 256; b++)
            byteIds[b] = vocab.TryGetValue(ByteToChar[b].ToString(), out var id) ? id : throw new FormatException($"the vocabulary lacks the byte token for 0x{b:X2}");
        EndOfText = vocab.TryGetValue(EndOfTextToken, out var eot) ? eot : -1;
        merges = new Dictionary<long, (int, int)>(mergeList.Count);
        for (var rank = 0; rank < mergeList.Count; rank++)
        {
            var (l, r) = mergeList[rank];
            if (!vocab.TryGetValue(l, out var li) || !vocab.TryGetValue(r, out var ri) || !vocab.TryGetValue(l + r, out var mi))
                throw new FormatException($"merge {rank + 1} '{l} {r}' names a token missing from the vocabulary");
            merges.TryAdd(Key(li, ri), (rank, mi));
        }
    }

    /// <summary>Loads vocab.json and merges.txt (GPT-2's format; a "#version" first line is skipped).</summary>
    public static BpeTokenizer Load(string vocabPath, string mergesPath)
    {
        if (!File.Exists(vocabPath)) throw new FileNotFoundException($"{vocabPath}: missing (a bpe tokenizer needs its vocab.json)");
        if (!File.Exists(mergesPath)) throw new FileNotFoundException($"{mergesPath}: missing (a bpe tokenizer needs its merges.txt)");
        Dictionary<string, int> vocab;
        try { vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabPath)) ?? throw new FormatException($"{vocabPath}: empty"); }
        catch (JsonException e) { throw new FormatException($"{vocabPath}: {e.Message}"); }
        var list = new List<(string, string)>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(mergesPath))
        {
            lineNumber++;
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version"))) continue;
            var space = line.IndexOf(' ');
            if (space <= 0 || space == line.Length - 1) throw new FormatException($"{mergesPath}:{lineNumber}: expected 'left right'");
            list.Add((line[..space], line[(space + 1)..]));
        }
        return new BpeTokenizer(vocab, list, Path.GetFileName(vocabPath), Path.GetFileName(mergesPath));
    }

    /// <summary>Writes vocab.json and merges.txt into <paramref name="folder"/> (atomically, each).</summary>
    public void Save(string folder)
    {
        var vocab = new Dictionary<string, int>(tokens.Length);
        for (var id = 0; id < tokens.Length; id++) vocab[tokens[id]] = id;
        AtomicFile.WriteAllText(Path.Combine(folder, vocabFile), JsonSerializer.Serialize(vocab));
        var text = new StringBuilder("#version: 0.2\n");
        foreach (var (key, _) in merges.OrderBy(m => m.Value.Rank))
            text.Append(tokens[(int)(key >> 32)]).Append(' ').Append(tokens[(int)(key & 0xFFFFFFFF)]).Append('\n');
        AtomicFile.WriteAllText(Path.Combine(folder, mergesFile), text.ToString());
    }

    public string Name => $"bpe-{VocabSize}";
    public int VocabSize => tokens.Length;
    public int EndOfText { get; }

    public int[] Encode(string text) => PreTokenizers.Use(regex =>
    {
        var result = new List<int>(text.Length / 3 + 4);
        var lookup = cache.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var match in regex.EnumerateMatches(text))
        {
            var piece = text.AsSpan(match.Index, match.Length);
            result.AddRange(lookup.TryGetValue(piece, out var ids) ? ids : EncodePiece(piece));
        }
        return result.ToArray();
    });

    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (id < 0 || id >= tokens.Length || id == EndOfText) continue;
            foreach (var c in tokens[id]) if (c < CharToByte.Length && CharToByte[c] >= 0) bytes.Add((byte)CharToByte[c]);
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }

    public TokenizerDescription Describe() => new()
    {
        Kind = "bpe", VocabSize = VocabSize, EndOfText = EndOfText, VocabFile = vocabFile, MergesFile = mergesFile,
    };

    int[] EncodePiece(ReadOnlySpan<char> piece)
    {
        var key = piece.ToString();
        Span<byte> buffer = stackalloc byte[Math.Min(Encoding.UTF8.GetMaxByteCount(piece.Length), 1024)];
        var bytes = piece.Length * 3 <= buffer.Length ? buffer[..Encoding.UTF8.GetBytes(piece, buffer)] : Encoding.UTF8.GetBytes(key);
        var ids = new List<int>(bytes.Length);
        foreach (var b in bytes) ids.Add(byteIds[b]);
        while (ids.Count > 1)
        {
            // The lowest-ranked adjacent pair merges first (GPT-2's rule).
            int best = -1, bestRank = int.MaxValue, bestId = 0;
            for (var i = 0; i + 1 < ids.Count; i++)
                if (merges.TryGetValue(Key(ids[i], ids[i + 1]), out var m) && m.Rank < bestRank) (best, bestRank, bestId) = (i, m.Rank, m.Id);
            if (best < 0) break;
            var pair = Key(ids[best], ids[best + 1]);
            for (var i = 0; i + 1 < ids.Count; i++)
                if (Key(ids[i], ids[i + 1]) == pair) { ids[i] = bestId; ids.RemoveAt(i + 1); }
        }
        var result = ids.ToArray();
        if (Volatile.Read(ref cached) < 1_000_000 && cache.TryAdd(key, result)) Interlocked.Increment(ref cached);
        return result;
    }

    static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>GPT-2's pre-tokenization: contractions, letters, numbers, other symbols, each with one optional leading space.</summary>
    public const string PreTokenizationPattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>The pattern as one shared instance, for single-threaded callers such as the BPE trainer.</summary>
    [GeneratedRegex(PreTokenizationPattern)]
    public static partial Regex PreTokenize();

    /// <summary>GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();
    static readonly short[] CharToByte = BuildCharToByte();

    static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
            map[b] = (b is >= '!' and <= '~') || (b is >= 0xA1 and <= 0xAC) || (b is >= 0xAE and <= 0xFF) ? (char)b : (char)next++;
        return map;
    }

    static short[] BuildCharToByte()
    {
        var inverse = new short[512];
        Array.Fill(inverse, (short)-1);
        for (var b = 0; b < 256; b++) inverse[ByteToChar[b]] = (short)b;
        return inverse;
    }
}
