using System.Text.Json;
using FewShot.Data.Contamination;
using FewShot.Data.Mixture;
using FewShot.Data.Shards;
using FewShot.Model.Tokenization;

namespace FewShot.Data.Tests;

public class PipelineTests
{
    static readonly PrepareOptions Options = new() { Tokenizer = new ByteTokenizer(), ValidationFraction = 0.05 };

    static void WriteJsonl(string path, IEnumerable<string> texts) =>
        File.WriteAllLines(path, texts.Select(t => JsonSerializer.Serialize(new { text = t })));

    [Fact]
    public void PrepareWritesShardsManifestAndCountsAndRerunsAreBitwiseIdentical()
    {
        using var temp = new TempFolder();
        var speeches = TestPaths.Speeches.Take(1200).ToList();
        WriteJsonl(temp.File("plays.jsonl"), speeches.Concat(speeches.Take(10)));   // 10 exact duplicates
        var benchmark = speeches[500];
        WriteJsonl(temp.File("bench.jsonl"), [benchmark]);
        var mixture = MixtureSpec.Parse("""
            {"sources":[{"name":"plays","paths":["plays.jsonl"],"weight":1}], "eval_sets":[{"name":"bench","paths":["bench.jsonl"]}]}
            """, temp.Path);
        var report = DataPipeline.Prepare(mixture, temp.File("out1"), Options);
        var plays = Assert.Single(report.Sources);
        Assert.Equal(1210, plays.DocumentsRead);
        Assert.Equal(10, plays.ExactDuplicates);
        Assert.Equal(1, plays.Decontaminated);   // the planted benchmark passage
        Assert.Equal(1200 - 1 - plays.FuzzyDuplicates, plays.DocumentsWritten + plays.ValDocuments);
        Assert.InRange(plays.ValDocuments, 50, 70);

        var stats = DataStats.Read(temp.File("out1"));
        Assert.Equal(plays.TokensWritten + plays.ValTokens, stats.Tokens);
        Assert.Equal("uint16", stats.Dtype);
        Assert.Empty(TokenShards.Verify(temp.File("out1")));
        using (var shards = TokenShards.Open(temp.File("out1")))
        {
            var text = new ByteTokenizer().Decode(Enumerable.Range(0, (int)shards.Shards[0].Length).Select(i => shards.Shards[0][i]));
            Assert.DoesNotContain(benchmark, text);
            Assert.Contains(speeches[0], text);
        }
        // The training n-grams let evaluation flag a contaminated example; a clean one passes.
        var training = DataPipeline.LoadTrainingNGrams(temp.File("out1"));
        Assert.True(training.Overlaps(speeches[1] + " " + speeches[2] + " " + speeches[3]));
        Assert.False(training.Overlaps(benchmark));

        DataPipeline.Prepare(mixture, temp.File("out2"), Options);
        foreach (var file in Directory.GetFiles(temp.File("out1"), "*.bin"))
            Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(temp.File("out2"), Path.GetFileName(file))));
    }

    [Fact]
    public void TrainedBpeTokenizerIsSavedWithTheShardsAndDecodesThemBack()
    {
        using var temp = new TempFolder();
        var speeches = TestPaths.Speeches.Take(300).ToList();
        WriteJsonl(temp.File("a.jsonl"), speeches);
        var mixture = MixtureSpec.Parse("""{"sources":[{"name":"a","paths":["a.jsonl"],"weight":1}], "tokenizer":"bpe:600"}""", temp.Path);
        var report = DataPipeline.Prepare(mixture, temp.File("out"), new PrepareOptions { ValidationFraction = 0 });
        Assert.Equal("bpe-600", report.Tokenizer);
        var tokenizer = TokenizerStore.Load(temp.File("out"));
        using var shards = TokenShards.Open(temp.File("out"));
        Assert.Equal("uint16", shards.Manifest.Dtype);
        Assert.Equal(599, shards.Manifest.EndOfText);
        var shard = shards.Shards.Single();
        var ids = Enumerable.Range(0, (int)shard.Length).Select(i => shard[i]).ToList();
        Assert.Equal(speeches.Count, ids.Count(id => id == 599));
        Assert.Equal(string.Concat(speeches), tokenizer.Decode(ids));
    }

    [Fact]
    public void OneLongTextFileStillGetsAValidationSplit()
    {
        var mixture = MixtureSpec.Parse($$"""{"sources":[{"name":"shakespeare","paths":["{{TestPaths.Shakespeare}}"],"weight":1}]}""", ".");
        using var temp = new TempFolder();
        var report = DataPipeline.Prepare(mixture, temp.Path, Options with { ValidationFraction = 0.1 });
        var s = Assert.Single(report.Sources);
        Assert.Equal(1, s.DocumentsWritten);
        Assert.InRange(s.ValTokens, 100_000, 120_000);
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(File.ReadAllText(TestPaths.Shakespeare).Trim()) + 2, s.TokensWritten + s.ValTokens);   // two end-of-text tokens
    }

    [Fact]
    public void EmptyCorpusFailsClearlyAndLeavesNoManifest()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("empty.jsonl"), "{\"text\":\"\"}\nnot json\n");
        var mixture = MixtureSpec.Parse("""{"sources":[{"name":"e","paths":["empty.jsonl"],"weight":1}]}""", temp.Path);
        var error = Assert.Throws<InvalidDataException>(() => DataPipeline.Prepare(mixture, temp.File("out"), Options));
        Assert.Contains("empty corpus", error.Message);
        Assert.Contains("empty.jsonl:2", error.Message);
        Assert.False(File.Exists(temp.File("out/manifest.json")));
        Assert.Contains("incomplete", Assert.Throws<FileNotFoundException>(() => DataStats.Read(temp.File("out"))).Message);
    }

    [Fact]
    public void CancelledRunLeavesAFolderThatReadsAsIncomplete()
    {
        using var temp = new TempFolder();
        WriteJsonl(temp.File("a.jsonl"), TestPaths.Speeches);
        var mixture = MixtureSpec.Parse("""{"sources":[{"name":"a","paths":["a.jsonl"],"weight":1}]}""", temp.Path);
        DataPipeline.Prepare(mixture, temp.File("out"), Options);
        using var cancel = new CancellationTokenSource();
        var progress = new SynchronousProgress(p => { if (p.Done > 0) cancel.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => DataPipeline.Prepare(mixture, temp.File("out"), Options with { BatchChars = 10_000 }, progress, cancel.Token));
        Assert.False(File.Exists(temp.File("out/manifest.json")));
        Assert.Empty(Directory.GetFiles(temp.File("out"), "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void QualityFilterKeepsClearlyMoreReferenceLikeThanNoiseLikeDocuments()
    {
        using var temp = new TempFolder();
        var random = new Random(9);
        var speeches = TestPaths.Speeches.ToList();
        string Noise() => string.Join(' ', Enumerable.Range(0, 120).Select(_ => new string([.. Enumerable.Range(0, random.Next(2, 9)).Select(_ => (char)random.Next('a', 'z' + 1))]) + (random.Next(6) == 0 ? " | 0x" + random.Next(9999).ToString("X") : "")));
        WriteJsonl(temp.File("reference.jsonl"), speeches.Take(1000));
        // The raw source mixes unseen reference-like documents (the first 100) with noise (the other 500), as a web crawl does.
        WriteJsonl(temp.File("raw.jsonl"), speeches.Skip(1000).Take(100).Concat(Enumerable.Range(0, 500).Select(_ => Noise())));
        var mixture = MixtureSpec.Parse("""
            {"sources":[{"name":"reference","paths":["reference.jsonl"],"weight":0.5,"role":"reference"},
                        {"name":"raw","paths":["raw.jsonl"],"weight":0.5,"role":"raw"}]}
            """, temp.Path);
        var report = DataPipeline.Prepare(mixture, temp.File("out"), Options with { ValidationFraction = 0, WriteTrainNGrams = false });
        var raw = report.Sources.Single(s => s.Name == "raw");
        Assert.Equal(600, raw.QualityScored);
        Assert.True(File.Exists(temp.File("out/quality-scores.png")));
        using var shards = TokenShards.Open(temp.File("out"));
        var kept = new ByteTokenizer().Decode(Enumerable.Range(0, (int)shards.Of("raw", "train").Single().Length).Select(i => shards.Of("raw", "train").Single()[i]));
        var keptSpeeches = speeches.Skip(1000).Take(100).Count(s => kept.Contains(s));
        var keptNoise = 600 - raw.QualityFiltered - keptSpeeches;
        // alpha = 9 is strict: even a 0.9 score keeps only 42% (P(pareto > 0.1) = 1.1^-9); noise (score ~0) almost never passes.
        Assert.True(keptSpeeches >= 30, $"kept {keptSpeeches} of 100 reference-like documents (keep ratio {raw.QualityKeepRatio})");
        Assert.True(keptSpeeches >= 10 * Math.Max(1, keptNoise), $"kept {keptSpeeches} reference-like and {keptNoise} noise documents");
        Assert.Null(report.Sources.Single(s => s.Name == "reference").QualityKeepRatio);
    }

    sealed class SynchronousProgress(Action<StageProgress> action) : IProgress<StageProgress>
    {
        public void Report(StageProgress value) => action(value);
    }
}
