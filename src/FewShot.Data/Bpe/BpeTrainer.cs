using FewShot.Model.Tokenization;

namespace FewShot.Data.Bpe;

/// <summary>How much text the BPE trainer reads.</summary>
public sealed record BpeTrainingOptions
{
    /// <summary>Word statistics come from at most this many characters (the first ones offered); merges need counts, not the whole corpus.</summary>
    public long MaxChars { get; init; } = 40_000_000;
    /// <summary>Pairs seen fewer times are never merged (the vocabulary may then end up smaller).</summary>
    public int MinPairCount { get; init; } = 2;
}

/// <summary>
/// Trains a byte-level BPE (GPT-2's scheme): GPT-2's regex splits text into pieces, pieces are counted, and the most
/// frequent adjacent pair of symbols is merged repeatedly (ties: the smaller pair of ids) until the vocabulary has
/// <c>vocabSize</c> tokens: 256 bytes, the merges, and end-of-text last. Pair counts are updated incrementally, so
/// each merge only touches the words that contain the pair.
/// </summary>
public static class BpeTrainer
{
    public static BpeTokenizer Train(IEnumerable<string> texts, int vocabSize, BpeTrainingOptions? options = null, IProgress<StageProgress>? progress = null)
    {
        options ??= new BpeTrainingOptions();
        if (vocabSize < 258) throw new ArgumentException($"a byte-level BPE needs at least 258 tokens (256 bytes, one merge, end-of-text); got {vocabSize}");
        var (words, counts) = CountWords(texts, options.MaxChars, progress);
        var merges = new List<(int Left, int Right)>();
        var targetMerges = vocabSize - 257;

        var pairs = new Dictionary<long, long>();
        var where = new Dictionary<long, List<int>>();
        for (var w = 0; w < words.Count; w++)
            for (var i = 0; i + 1 < words[w].Length; i++)
            {
                var key = Key(words[w][i], words[w][i + 1]);
                pairs[key] = pairs.GetValueOrDefault(key) + counts[w];
                if (!where.TryGetValue(key, out var list)) where[key] = list = [];
                if (list.Count == 0 || list[^1] != w) list.Add(w);
            }
        var heap = new PriorityQueue<long, (long Count, long Key)>(Comparer<(long Count, long Key)>.Create((a, b) => a.Count != b.Count ? b.Count.CompareTo(a.Count) : a.Key.CompareTo(b.Key)));
        foreach (var (key, count) in pairs) heap.Enqueue(key, (count, key));

        var delta = new Dictionary<long, long>();
        var visited = new int[words.Count];
        while (merges.Count < targetMerges && heap.TryDequeue(out var best, out var priority))
        {
            if (pairs.GetValueOrDefault(best) != priority.Count) continue;   // stale entry
            if (priority.Count < options.MinPairCount) break;
            int left = (int)(best >> 32), right = (int)(best & 0xFFFFFFFF), merged = 256 + merges.Count;
            merges.Add((left, right));
            delta.Clear();
            var stamp = merges.Count;
            foreach (var w in where[best])
            {
                if (visited[w] == stamp) continue;
                visited[w] = stamp;
                var old = words[w];
                var next = MergeWord(old, left, right, merged);
                if (next.Length == old.Length) continue;
                for (var i = 0; i + 1 < old.Length; i++) { var k = Key(old[i], old[i + 1]); delta[k] = delta.GetValueOrDefault(k) - counts[w]; }
                for (var i = 0; i + 1 < next.Length; i++)
                {
                    var k = Key(next[i], next[i + 1]);
                    delta[k] = delta.GetValueOrDefault(k) + counts[w];
                    if (next[i] == merged || next[i + 1] == merged)
                    {
                        if (!where.TryGetValue(k, out var list)) where[k] = list = [];
                        if (list.Count == 0 || list[^1] != w) list.Add(w);
                    }
                }
                words[w] = next;
            }
            where.Remove(best);
            foreach (var (k, d) in delta)
            {
                if (d == 0) continue;
                var count = pairs.GetValueOrDefault(k) + d;
                if (count <= 0) { pairs.Remove(k); continue; }
                pairs[k] = count;
                heap.Enqueue(k, (count, k));
            }
            if (merges.Count % 500 == 0) progress?.Report(new StageProgress("tokenizer", "merges", merges.Count, targetMerges, "merges"));
        }

        var strings = new List<string>(256 + merges.Count + 1);
        for (var b = 0; b < 256; b++) strings.Add(BpeTokenizer.ByteToChar[b].ToString());
        foreach (var (l, r) in merges) strings.Add(strings[l] + strings[r]);
        var vocab = new Dictionary<string, int>();
        for (var id = 0; id < strings.Count; id++) vocab[strings[id]] = id;   // merged strings are unique: each merge makes a new one
        vocab[BpeTokenizer.EndOfTextToken] = strings.Count;
        return new BpeTokenizer(vocab, [.. merges.Select(m => (strings[m.Left], strings[m.Right]))]);
    }

    static (List<int[]> Words, List<long> Counts) CountWords(IEnumerable<string> texts, long maxChars, IProgress<StageProgress>? progress)
    {
        var counts = new Dictionary<string, long>();
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        long chars = 0;
        foreach (var text in texts)
        {
            foreach (var match in BpeTokenizer.PreTokenize().EnumerateMatches(text))
            {
                var piece = text.AsSpan(match.Index, match.Length);
                if (lookup.TryGetValue(piece, out var c)) lookup[piece] = c + 1;
                else lookup[piece] = 1;
            }
            chars += text.Length;
            progress?.Report(new StageProgress("tokenizer", "count", chars, maxChars, "chars"));
            if (chars >= maxChars) break;
        }
        var words = new List<int[]>(counts.Count);
        var wordCounts = new List<long>(counts.Count);
        foreach (var (piece, count) in counts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(piece);
            if (bytes.Length < 2) continue;   // single bytes have no pairs
            words.Add([.. bytes.Select(b => (int)b)]);
            wordCounts.Add(count);
        }
        return (words, wordCounts);
    }

    static int[] MergeWord(int[] word, int left, int right, int merged)
    {
        var result = new List<int>(word.Length);
        for (var i = 0; i < word.Length; i++)
        {
            if (i + 1 < word.Length && word[i] == left && word[i + 1] == right) { result.Add(merged); i++; }
            else result.Add(word[i]);
        }
        return result.Count == word.Length ? word : [.. result];
    }

    static long Key(int left, int right) => ((long)left << 32) | (uint)right;
}
