using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Model.Tokenization;

namespace FewShot.Evaluation.Contamination;

/// <summary>
/// Scans training data for the evaluation texts' n-grams: *.txt files (one stream of words), *.jsonl files (every
/// string value of every line, one document per line) and, given a tokenizer, token shards (*.bin: little-endian
/// uint16 ids when the vocabulary fits, else int32; documents split at end-of-text). Only the evaluation texts'
/// n-gram hashes are held in memory, so the training data can be any size.
/// </summary>
public sealed class TrainingDataChecker(string dataDirectory, ITokenizer? tokenizer = null) : IContaminationChecker
{
    public int FilesScanned { get; private set; }

    public IReadOnlyList<bool> FindContaminated(IReadOnlyList<string> texts)
    {
        if (!Directory.Exists(dataDirectory)) throw new DirectoryNotFoundException($"{dataDirectory}: training data folder not found");
        var index = new Dictionary<(int N, ulong Hash), List<int>>();
        for (var i = 0; i < texts.Count; i++)
        {
            var (n, hashes) = NGrams.Of(texts[i]);
            foreach (var h in hashes)
            {
                if (!index.TryGetValue((n, h), out var list)) index[(n, h)] = list = [];
                list.Add(i);
            }
        }
        var flags = new bool[texts.Count];
        var sizes = index.Keys.Select(k => k.N).Distinct().Order().ToArray();
        var window = new Window(sizes, index, flags);

        var files = Directory.EnumerateFiles(dataDirectory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        foreach (var file in files)
        {
            var extension = Path.GetExtension(file).ToLowerInvariant();
            if (extension == ".txt") { ScanLines(File.ReadLines(file), window); window.Reset(); }
            else if (extension == ".jsonl") ScanJsonl(file, window);
            else if (extension == ".bin" && tokenizer is not null) ScanShard(file, window);
            else continue;
            FilesScanned++;
        }
        if (FilesScanned == 0) throw new InvalidDataException($"{dataDirectory}: no training data found (*.txt, *.jsonl{(tokenizer is null ? "" : ", *.bin token shards")})");
        return flags;
    }

    static void ScanLines(IEnumerable<string> lines, Window window)
    {
        foreach (var line in lines)
            foreach (var word in NGrams.Normalise(line)) window.Add(word);
    }

    static void ScanJsonl(string file, Window window)
    {
        var number = 0;
        foreach (var line in File.ReadLines(file))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonNode? node;
            try { node = JsonNode.Parse(line); }
            catch (JsonException e) { throw new FormatException($"{file}:{number}: not valid JSON ({e.Message})"); }
            foreach (var text in Strings(node)) { ScanLines([text], window); window.Reset(); }
        }
    }

    static IEnumerable<string> Strings(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => [s],
        JsonObject o => o.SelectMany(p => Strings(p.Value)),
        JsonArray a => a.SelectMany(Strings),
        _ => [],
    };

    void ScanShard(string file, Window window)
    {
        var wide = tokenizer!.VocabSize > 65536;
        var bytes = File.ReadAllBytes(file);
        var ids = wide
            ? Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToInt32(bytes, i * 4))
            : Enumerable.Range(0, bytes.Length / 2).Select(i => (int)BitConverter.ToUInt16(bytes, i * 2));
        var document = new List<int>();
        foreach (var id in ids.Append(tokenizer.EndOfText))
        {
            if (id != tokenizer.EndOfText) { document.Add(id); continue; }
            ScanLines([tokenizer.Decode(document)], window);
            window.Reset();
            document.Clear();
        }
    }

    /// <summary>The last 13 words of the current document; each new word completes one n-gram of every size asked for.</summary>
    sealed class Window(int[] sizes, Dictionary<(int N, ulong Hash), List<int>> index, bool[] flags)
    {
        readonly List<string> words = [];
        readonly int longest = sizes.Length == 0 ? 0 : sizes.Max();

        public void Add(string word)
        {
            if (longest == 0) return;
            words.Add(word);
            if (words.Count > longest) words.RemoveAt(0);
            foreach (var n in sizes)
                if (words.Count >= n && index.TryGetValue((n, NGrams.Hash(words, words.Count - n, n)), out var hits))
                    foreach (var i in hits) flags[i] = true;
        }

        public void Reset() => words.Clear();
    }
}
