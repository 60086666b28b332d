using FewShot.Cli.Commands.Data;
using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Benchmarks;
using FewShot.Data.Builtin;
using FewShot.Model.Tokenization;
using Spectre.Console;

namespace FewShot.Cli.Commands.Bench;

/// <summary>
/// fewshot bench data: tokenization MB/s with 1 and 2 workers, fuzzy-dedup time at three corpus sizes (linear scaling
/// shows as a constant time per document) and, with --prepare-bytes, the peak memory of a whole prepare run.
/// All on text of the built-in corpus (built into the cache on first use).
/// </summary>
public sealed class DataBenchCommand : CliCommand
{
    readonly Option<double> megabytes = new("--megabytes") { Description = "Text to tokenize per run, in MB", DefaultValueFactory = _ => 20 };
    readonly Option<string> tokenizer = new("--tokenizer") { Description = "r50k_base, bytes, or a folder with tokenizer.json", DefaultValueFactory = _ => "r50k_base" };
    readonly Option<string> dedupSizes = new("--dedup-sizes") { Description = "Document counts for the fuzzy-dedup runs", DefaultValueFactory = _ => "10000,20000,40000" };
    readonly Option<string?> prepareBytes = new("--prepare-bytes") { Description = "Also prepare a generated corpus of this size (e.g. 1e9) and report peak memory" };

    public DataBenchCommand() : base("data", "Measure tokenization throughput, fuzzy-dedup scaling and prepare memory")
    {
        foreach (var o in new Option[] { megabytes, tokenizer, dedupSizes, prepareBytes }) Options.Add(o);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var mb = parse.GetValue(megabytes);
        if (!(mb > 0) || !double.IsFinite(mb)) throw new ArgumentException($"--megabytes must be positive, got {mb}");
        var sizes = parse.GetValue(dedupSizes)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(s => int.TryParse(s, out var n) && n > 0 ? n : throw new FormatException($"--dedup-sizes: '{s}' is not a positive integer")).ToArray();
        if (sizes.Length == 0) throw new FormatException("--dedup-sizes: give at least one document count");
        long? corpusBytes = parse.GetValue(prepareBytes) is { } b ? (long)DataArguments.ParseCount("--prepare-bytes", b) : null;
        var name = parse.GetValue(tokenizer)!;
        var tok = Directory.Exists(name) ? TokenizerStore.Load(name) : TokenizerStore.FromName(name);

        IReadOnlyList<TokenizationPoint> tokenization = [];
        IReadOnlyList<DedupPoint> dedup = [];
        PrepareMemoryResult? memory = null;
        context.Progress().Start(p =>
        {
            var corpus = p.AddTask("built-in corpus", maxValue: 1);
            var folder = BuiltinCorpus.Ensure(progress: new StageProgressBars(p));
            corpus.Value = 1;
            var documents = Documents(folder, (long)(mb * 1e6));
            var tokens = p.AddTask($"tokenization, 1 and 2 workers ({mb:G3} MB)", maxValue: 1);
            tokenization = DataBenchmarks.Tokenization(tok, documents, [1, 2]);
            tokens.Value = 1;
            cancel.ThrowIfCancellationRequested();
            var fuzzy = p.AddTask($"fuzzy dedup at {string.Join(", ", sizes)} documents", maxValue: 1);
            dedup = DataBenchmarks.FuzzyDedup(sizes);
            fuzzy.Value = 1;
            if (corpusBytes is { } bytes)
            {
                cancel.ThrowIfCancellationRequested();
                var prepare = p.AddTask($"prepare of a {Units.Bytes(bytes)} corpus", maxValue: 1);
                var work = Directory.CreateTempSubdirectory("fewshot-bench-data-").FullName;
                try { memory = DataBenchmarks.PrepareMemory(bytes, work); }
                finally { Directory.Delete(work, recursive: true); }
                prepare.Value = 1;
            }
        });

        var json = new JsonObject
        {
            ["benchmark"] = "data",
            ["tokenizer"] = tok.Name,
            ["tokenization"] = new JsonArray([.. tokenization.Select(t => (JsonNode)new JsonObject
            {
                ["workers"] = t.Workers, ["megabytes"] = Math.Round(t.Megabytes, 2), ["seconds"] = Math.Round(t.Seconds, 3),
                ["mb_per_s"] = Math.Round(t.MegabytesPerSecond, 2), ["cpu_seconds"] = Math.Round(t.CpuSeconds, 3),
            })]),
            ["tokenization_speedup"] = tokenization.Count == 2 ? Math.Round(tokenization[1].MegabytesPerSecond / tokenization[0].MegabytesPerSecond, 3) : null,
            ["fuzzy_dedup"] = new JsonArray([.. dedup.Select(d => (JsonNode)new JsonObject
            {
                ["documents"] = d.Documents, ["seconds"] = Math.Round(d.Seconds, 3), ["us_per_document"] = Math.Round(d.MicrosecondsPerDocument, 1), ["duplicates"] = d.Duplicates,
            })]),
            ["prepare"] = memory is null ? null : new JsonObject
            {
                ["corpus_bytes"] = memory.CorpusBytes, ["seconds"] = Math.Round(memory.Seconds, 1), ["mb_per_s"] = Math.Round(memory.MegabytesPerSecond, 2),
                ["peak_rss_bytes"] = memory.PeakResidentBytes, ["tokens"] = memory.TokensWritten, ["workers"] = memory.Workers,
            },
            ["processor_count"] = Environment.ProcessorCount,
        };
        if (context.Json)
        {
            context.WriteJson(json);
            return Task.FromResult(ExitCodes.Success);
        }
        var table = new Table().AddColumns("measure", "value");
        foreach (var t in tokenization)
            table.AddRow($"tokenization, {t.Workers} worker{(t.Workers == 1 ? "" : "s")}", $"{t.MegabytesPerSecond:F1} MB/s ({t.CpuSeconds:F2} CPU s)");
        if (tokenization.Count == 2) table.AddRow("2 / 1 workers", $"{json["tokenization_speedup"]}x");
        foreach (var d in dedup)
            table.AddRow($"fuzzy dedup, {d.Documents:N0} documents", $"{d.Seconds:F2} s, {d.MicrosecondsPerDocument:F0} us/document, {d.Duplicates:N0} duplicates");
        if (memory is not null)
            table.AddRow($"prepare {Units.Bytes(memory.CorpusBytes)}", $"{memory.Seconds:F0} s, {memory.MegabytesPerSecond:F1} MB/s, peak RSS {Units.Bytes(memory.PeakResidentBytes)}");
        table.Caption(Markup.Escape($"tokenizer {tok.Name}; {Environment.ProcessorCount} cores"));
        context.Out.Write(table);
        return Task.FromResult(ExitCodes.Success);
    }

    /// <summary>Documents of the built-in encyclopedia and dialogues sources, up to <paramref name="maxBytes"/> of text.</summary>
    static List<string> Documents(string folder, long maxBytes)
    {
        var documents = new List<string>();
        long bytes = 0;
        foreach (var source in new[] { "encyclopedia", "dialogues" })
            foreach (var line in File.ReadLines(Path.Combine(folder, source + ".jsonl")))
            {
                var text = JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!;
                documents.Add(text);
                if ((bytes += System.Text.Encoding.UTF8.GetByteCount(text)) >= maxBytes) return documents;
            }
        return documents;
    }
}
