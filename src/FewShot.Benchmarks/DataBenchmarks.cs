using FewShot.Data;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using FewShot.Data.Dedup;
using FewShot.Data.Mixture;
using FewShot.Model.Tokenization;

namespace FewShot.Benchmarks;

/// <summary>
/// Tokenization throughput with a given number of workers. <see cref="CpuSeconds"/> is the process CPU time the run
/// used: when it stays equal to the one-worker run's, the work divides without overhead, and the wall-clock speed-up
/// is then limited only by the cores actually free (on a busy shared machine, fewer than the core count).
/// </summary>
public sealed record TokenizationPoint(int Workers, double Megabytes, double Seconds, double MegabytesPerSecond, double Speedup, double CpuSeconds);

/// <summary>Fuzzy dedup (MinHash signatures and LSH lookups) time for a document count.</summary>
public sealed record DedupPoint(int Documents, double Seconds, double MicrosecondsPerDocument, long Duplicates);

/// <summary>A whole prepare run on a generated corpus: time, throughput and the process's peak resident memory.</summary>
public sealed record PrepareMemoryResult(long CorpusBytes, double Seconds, double MegabytesPerSecond, long PeakResidentBytes, long TokensWritten, int Workers);

/// <summary>What `fewshot bench data` measures (see docs/data.md for the numbers on the reference machine).</summary>
public static class DataBenchmarks
{
    /// <summary>Tokenizes the same documents with each worker count (documents split across threads, as prepare does).</summary>
    public static IReadOnlyList<TokenizationPoint> Tokenization(ITokenizer tokenizer, IReadOnlyList<string> documents, IReadOnlyList<int> workers)
    {
        var megabytes = documents.Sum(d => (long)Encoding.UTF8.GetByteCount(d)) / 1e6;
        // Warm up with one full untimed pass: JIT, regex, and the tokenizer's piece cache, which would otherwise favour later runs.
        Parallel.For(0, documents.Count, i => tokenizer.Encode(documents[i]));
        var points = new List<TokenizationPoint>();
        foreach (var w in workers)
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            Parallel.For(0, documents.Count, new ParallelOptions { MaxDegreeOfParallelism = w }, i => tokenizer.Encode(documents[i]));
            var seconds = clock.Elapsed.TotalSeconds;
            var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
            points.Add(new TokenizationPoint(w, megabytes, seconds, megabytes / seconds, points.Count == 0 ? 1 : points[0].Seconds / seconds, cpuSeconds));
        }
        return points;
    }

    /// <summary>Tokenization of ~<paramref name="megabytes"/> MB of the built-in corpus with 1 and with all cores.</summary>
    public static IReadOnlyList<TokenizationPoint> Tokenization(ITokenizer tokenizer, double megabytes = 20, string? cacheDirectory = null) =>
        Tokenization(tokenizer, BuiltinDocuments(cacheDirectory, (long)(megabytes * 1e6)), [1, Environment.ProcessorCount]);

    /// <summary>
    /// Fuzzy dedup of n documents for each n: documents of 20 random lines of the built-in encyclopedia and dialogues
    /// (so all sizes share one length distribution), every tenth a near-copy of an earlier one (one line replaced).
    /// </summary>
    public static IReadOnlyList<DedupPoint> FuzzyDedup(IReadOnlyList<int> sizes, string? cacheDirectory = null)
    {
        var lines = BuiltinDocuments(cacheDirectory, 30_000_000).SelectMany(d => d.Split('\n')).Where(l => l.Length > 20).ToArray();
        var random = new Random(7);
        var documents = new List<string>(sizes.Max());
        while (documents.Count < sizes.Max())
        {
            var picked = Enumerable.Range(0, 20).Select(_ => lines[random.Next(lines.Length)]).ToArray();
            if (documents.Count % 10 == 9)
            {
                picked = documents[random.Next(documents.Count)].Split('\n');
                picked[random.Next(picked.Length)] = lines[random.Next(lines.Length)];
            }
            documents.Add(string.Join('\n', picked));
        }
        var options = new MinHashOptions();
        foreach (var d in documents.Take(2000)) MinHashDeduplicator.Signature(d, options);   // warm up (JIT)
        return [.. sizes.Select(n =>
        {
            var clock = Stopwatch.StartNew();
            var dedup = new MinHashDeduplicator(options);
            long duplicates = 0;
            for (var i = 0; i < n; i++) if (!dedup.TryAdd(MinHashDeduplicator.Signature(documents[i], options))) duplicates++;
            var seconds = clock.Elapsed.TotalSeconds;
            return new DedupPoint(n, seconds, seconds * 1e6 / n, duplicates);
        })];
    }

    /// <summary>
    /// Generates a corpus of <paramref name="corpusBytes"/> (unique documents recombined from built-in encyclopedia and
    /// dialogue lines) in <paramref name="workDirectory"/>, prepares it, and reports the peak resident memory of this
    /// process (VmHWM: run it in a fresh process for a clean number).
    /// </summary>
    public static PrepareMemoryResult PrepareMemory(long corpusBytes, string workDirectory, PrepareOptions? options = null, string? cacheDirectory = null)
    {
        options ??= new PrepareOptions();
        Directory.CreateDirectory(workDirectory);
        var corpus = Path.Combine(workDirectory, "corpus.jsonl");
        GenerateCorpus(corpus, corpusBytes, cacheDirectory);
        var mixture = MixtureSpec.Parse($$"""{"sources":[{"name":"generated","paths":["corpus.jsonl"],"weight":1}],"tokenizer":"r50k_base"}""", workDirectory);
        var clock = Stopwatch.StartNew();
        var report = DataPipeline.Prepare(mixture, Path.Combine(workDirectory, "out"), options);
        var seconds = clock.Elapsed.TotalSeconds;
        var bytes = new FileInfo(corpus).Length;
        return new PrepareMemoryResult(bytes, seconds, bytes / 1e6 / seconds, PeakResidentBytes(), report.TotalTokens, options.Workers);
    }

    /// <summary>Peak resident set size of this process (Linux VmHWM; elsewhere the peak working set).</summary>
    public static long PeakResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:")) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        catch (IOException) { }
        return Process.GetCurrentProcess().PeakWorkingSet64;
    }

    static void GenerateCorpus(string path, long bytes, string? cacheDirectory)
    {
        var lines = BuiltinDocuments(cacheDirectory, 60_000_000).SelectMany(d => d.Split('\n')).Where(l => l.Length > 20).ToArray();
        var random = new Random(42);
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        long written = 0;
        var text = new StringBuilder();
        while (written < bytes)
        {
            text.Clear();
            var count = random.Next(5, 40);
            for (var i = 0; i < count; i++) text.Append(lines[random.Next(lines.Length)]).Append('\n');
            var json = "{\"text\":" + JsonSerializer.Serialize(text.ToString()) + "}\n";
            writer.Write(json);
            written += json.Length;
        }
    }

    static List<string> BuiltinDocuments(string? cacheDirectory, long maxBytes, int maxDocuments = int.MaxValue)
    {
        var folder = FewShot.Data.Builtin.BuiltinCorpus.Ensure(cacheDirectory);
        var documents = new List<string>();
        long bytes = 0;
        foreach (var name in new[] { "encyclopedia", "dialogues" })
            foreach (var line in File.ReadLines(Path.Combine(folder, name + ".jsonl")))
            {
                var text = JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!;
                documents.Add(text);
                if ((bytes += text.Length) >= maxBytes || documents.Count >= maxDocuments) return documents;
            }
        return documents;
    }
}
