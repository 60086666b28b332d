using System.Text;
using System.Text.Json;
using FewShot.Data.Mixture;

namespace FewShot.Data.Builtin;

/// <summary>
/// The product's default corpus, built on first use from the .NET SDK's XML documentation (no download) into a cache
/// folder: "xmldocs-raw" (raw member XML, the web-like source), "encyclopedia" (one "Namespace.Type.Member: summary"
/// line per member, grouped by type), "dialogues" (User/Assistant questions about members), GPT-3's synthetic
/// tasks "arithmetic" and "wordscramble", and the word-list rules "wordlists" (documents of many worked examples of
/// one task in a row, so that a small model learns to continue a pattern from its context). Members of
/// <see cref="HeldOutNamespaces"/> are kept out of every training source and written to ood-*.jsonl for
/// out-of-distribution evaluation. Deterministic for a given SDK.
/// </summary>
public static class BuiltinCorpus
{
    public const int Version = 8;   // 4: the wordlists source; 5: without the evaluation's test lists; 6: GPT-3's released arithmetic layout; 7: word lists as "Q: ...\nA: ..."; 8: 1,500 word-list documents per rule
    /// <summary>Namespaces (and their sub-namespaces) held out of pretraining: the OOD split of the evaluation issue.</summary>
    public static IReadOnlyList<string> HeldOutNamespaces => FewShot.Tasks.DotNetDocs.DotNetTypeDocs.HeldOutNamespaces;
    public const int Seed = 20200528;   // GPT-3's arXiv date
    /// <summary>Worked examples per synthetic-task document (about 1,000 tokens of bytes-level context).</summary>
    public const int ExamplesPerDocument = 32;

    /// <summary>The built-in mixture: weights in docs/data.md; the tokenizer is a BPE of 8,192 tokens trained on it.</summary>
    public static MixtureSpec Mixture(string? cacheDirectory = null, IProgress<StageProgress>? progress = null)
    {
        var folder = Ensure(cacheDirectory, progress);
        SourceSpec Source(string name, double weight, string? role = null) =>
            new() { Name = name, Paths = [Path.Combine(folder, name + ".jsonl")], Format = "jsonl", TextField = "text", Weight = weight, Role = role };
        return new MixtureSpec
        {
            // No quality-filter roles: a classifier tells raw member XML from the encyclopedia at 99.8% accuracy, and
            // GPT-3's rule then keeps 0.09% of it (2 of 2,264 documents), leaving a 20%-weight source of 2 documents.
            // Set Role = "raw" / "reference" on a copy to run the filter anyway (docs/data.md).
            // wordlists took its 0.20 from the other sources in proportion (each x 0.8): docs/data.md says why.
            Sources =
            [
                Source("encyclopedia", 0.20), Source("xmldocs-raw", 0.20), Source("dialogues", 0.12),
                Source("arithmetic", 0.16), Source("wordscramble", 0.12), Source("wordlists", 0.20),
            ],
            Tokenizer = "bpe:2048",
            BaseDirectory = folder,
        };
    }

    /// <summary>The cache folder (FEWSHOT_CACHE, else ~/.cache/fewshot) for this SDK's corpus.</summary>
    public static string DefaultCacheDirectory()
    {
        var root = Environment.GetEnvironmentVariable("FEWSHOT_CACHE") is { Length: > 0 } env ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "fewshot");
        return Path.Combine(root, "builtin");
    }

    /// <summary>Builds the corpus unless a complete one (with corpus.json) exists; returns its folder.</summary>
    public static string Ensure(string? cacheDirectory = null, IProgress<StageProgress>? progress = null)
    {
        var files = XmlDocs.Locate();
        var key = $"v{Version}-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", files.Select(f => $"{f}:{new FileInfo(f).Length}")))))[..12]}";
        var folder = Path.Combine(cacheDirectory ?? DefaultCacheDirectory(), key);
        if (File.Exists(Path.Combine(folder, "corpus.json"))) return folder;
        var building = folder + $".building-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.CreateDirectory(building);
        try
        {
            Build(files, building, progress);
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);   // incomplete leftovers (no corpus.json)
            Directory.Move(building, folder);
        }
        catch when (File.Exists(Path.Combine(folder, "corpus.json"))) { /* another process finished first */ }
        finally { if (Directory.Exists(building)) Directory.Delete(building, recursive: true); }
        return folder;
    }

    static void Build(IReadOnlyList<string> files, string folder, IProgress<StageProgress>? progress)
    {
        using (var raw = new JsonLinesWriter(Path.Combine(folder, "xmldocs-raw.jsonl")))
        using (var encyclopedia = new JsonLinesWriter(Path.Combine(folder, "encyclopedia.jsonl")))
        using (var dialogues = new JsonLinesWriter(Path.Combine(folder, "dialogues.jsonl")))
        using (var oodEncyclopedia = new JsonLinesWriter(Path.Combine(folder, "ood-encyclopedia.jsonl")))
        using (var oodDialogues = new JsonLinesWriter(Path.Combine(folder, "ood-dialogues.jsonl")))
        {
            var rawChunk = new StringBuilder();
            int rawMembers = 0, rawChunks = 0, done = 0;
            foreach (var file in files)
            {
                foreach (var group in GroupByType(XmlDocs.Read(file)))
                {
                    var heldOut = FewShot.Tasks.DotNetDocs.DotNetTypeDocs.IsHeldOut(group[0].Namespace);
                    (heldOut ? oodEncyclopedia : encyclopedia).Write(string.Join("\n", group.Select(e => e.Line)));
                    foreach (var chunk in group.Chunk(8))
                        (heldOut ? oodDialogues : dialogues).Write(string.Join("\n\n", chunk.Select(Dialogue)));
                    if (heldOut) continue;
                    foreach (var entry in group)
                    {
                        rawChunk.Append(entry.RawXml).Append('\n');
                        if (++rawMembers % RawMembersPerDocument != 0) continue;
                        // Every second chunk: the raw XML (~85 MB) would otherwise dwarf the rest of the corpus.
                        if (rawChunks++ % 2 == 0) raw.Write(rawChunk.ToString());
                        rawChunk.Clear();
                    }
                }
                progress?.Report(new StageProgress("builtin", "xmldocs", ++done, files.Count, "files"));
            }
            if (rawChunk.Length > 0) raw.Write(rawChunk.ToString());
        }

        using (var arithmetic = new JsonLinesWriter(Path.Combine(folder, "arithmetic.jsonl")))
            foreach (var document in SyntheticDocuments.Arithmetic(documentsPerTask: 600, Seed)) arithmetic.Write(document);
        using (var scramble = new JsonLinesWriter(Path.Combine(folder, "wordscramble.jsonl")))
            foreach (var document in SyntheticDocuments.WordScrambles(documentsPerTask: 1000, Seed)) scramble.Write(document);
        using (var wordLists = new JsonLinesWriter(Path.Combine(folder, "wordlists.jsonl")))
            foreach (var document in SyntheticDocuments.WordLists(documentsPerTask: 1500, Seed)) wordLists.Write(document);

        var description = new
        {
            version = Version,
            seed = Seed,
            xml_files = files.Count,
            held_out_namespaces = HeldOutNamespaces,
            files = Directory.GetFiles(folder).Select(f => new { name = Path.GetFileName(f), bytes = new FileInfo(f).Length }).OrderBy(f => f.name, StringComparer.Ordinal),
        };
        File.WriteAllText(Path.Combine(folder, "corpus.json"), JsonSerializer.Serialize(description, new JsonSerializerOptions { WriteIndented = true }));
    }

    const int RawMembersPerDocument = 24;


    static string Dialogue(ApiEntry e) => e.Kind switch
    {
        'T' => $"User: What is {e.Name}?\nAssistant: {e.Summary}",
        'P' => $"User: What does the {e.Name} property represent?\nAssistant: {e.Summary}",
        'F' => $"User: What is the {e.Name} field?\nAssistant: {e.Summary}",
        'E' => $"User: When does the {e.Name} event occur?\nAssistant: {e.Summary}",
        _ => $"User: What does {e.Name} do?\nAssistant: {e.Summary}",
    };

    /// <summary>Consecutive entries of the same type (a type's members follow it in the reference XML).</summary>
    static IEnumerable<List<ApiEntry>> GroupByType(IEnumerable<ApiEntry> entries)
    {
        var group = new List<ApiEntry>();
        string? type = null;
        foreach (var e in entries)
        {
            var entryType = e.Kind == 'T' ? e.Name : e.Name.EndsWith(" constructor") ? e.Name[..^12] : e.Name[..Math.Max(0, e.Name.LastIndexOf('.'))];
            if (type is not null && entryType != type && group.Count > 0) { yield return group; group = []; }
            type = entryType;
            group.Add(e);
        }
        if (group.Count > 0) yield return group;
    }
}

/// <summary>Writes {"text": ...} lines.</summary>
sealed class JsonLinesWriter(string path) : IDisposable
{
    readonly StreamWriter writer = new(path, append: false, new UTF8Encoding(false), 1 << 16);

    public void Write(string text)
    {
        writer.Write("{\"text\":");
        writer.Write(JsonSerializer.Serialize(text));
        writer.Write("}\n");
    }

    public void Dispose() => writer.Dispose();
}
