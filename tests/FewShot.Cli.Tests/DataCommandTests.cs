using System.Text.Json;

namespace FewShot.Cli.Tests;

/// <summary>fewshot data prepare / stats / plan and tokenizer train, run in-process on real text.</summary>
public sealed class DataCommandTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>GPT-3's Table 2.2 as a planning mixture: sizes as "tokens", the printed weights (which sum to 1.01).</summary>
    string Table22()
    {
        var path = Path.Combine(temp.Path, "gpt3.json");
        File.WriteAllText(path, """
            {"sources": [
              {"name": "common_crawl", "tokens": 410e9, "weight": 0.6},
              {"name": "webtext2", "tokens": 19e9, "weight": 0.22},
              {"name": "books1", "tokens": 12e9, "weight": 0.08},
              {"name": "books2", "tokens": 55e9, "weight": 0.08},
              {"name": "wikipedia", "tokens": 3e9, "weight": 0.03}
            ]}
            """);
        return path;
    }

    /// <summary>
    /// A two-source mixture of Shakespeare: plays.txt (documents of 6 speeches separated by a blank line triple) and
    /// speeches.jsonl (one document per line, one line not JSON, one document repeated exactly).
    /// </summary>
    string ShakespeareMixture()
    {
        var speeches = File.ReadAllText(TestEnvironment.Shakespeare).Split("\n\n");
        var documents = speeches.Chunk(6).Select(c => string.Join("\n\n", c)).ToArray();
        File.WriteAllText(Path.Combine(temp.Path, "plays.txt"), string.Join("\n\n\n", documents.Take(60)));
        var lines = documents.Skip(60).Take(60).Select(d => JsonSerializer.Serialize(new { text = d })).ToList();
        lines.Insert(10, "this line is not JSON");
        lines.Add(lines[3]);
        File.WriteAllLines(Path.Combine(temp.Path, "speeches.jsonl"), lines);
        var mixture = Path.Combine(temp.Path, "mixture.json");
        File.WriteAllText(mixture, """
            {"sources": [
              {"name": "plays", "paths": ["plays.txt"], "separator": "\n\n\n", "weight": 0.7},
              {"name": "speeches", "paths": ["speeches.jsonl"], "weight": 0.3}
            ], "tokenizer": "r50k_base"}
            """);
        return mixture;
    }

    [Fact]
    public void PlanOfTable22PrintsTheArithmeticEpochs()
    {
        var result = Cli.Run("data", "plan", Table22(), "--tokens", "300e9", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var sources = result.Json.GetProperty("sources").EnumerateArray().ToArray();
        Assert.Equal(["common_crawl", "webtext2", "books1", "books2", "wikipedia"], sources.Select(s => s.GetProperty("name").GetString()));
        // epochs = weight x 300e9 / tokens with the weights as printed (docs/data.md): 0.44, 3.47, 2.00, 0.44, 3.00.
        double[] expected = [0.44, 3.47, 2.0, 0.44, 3.0];
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], sources[i].GetProperty("epochs").GetDouble(), 2);
        Assert.Equal([410e9, 19e9, 12e9, 55e9, 3e9], sources.Select(s => s.GetProperty("tokens").GetDouble()));
        Assert.Equal([0.6, 0.22, 0.08, 0.08, 0.03], sources.Select(s => s.GetProperty("weight").GetDouble()));
        // The weights sum to 1.01: the sampler normalises them and says so.
        Assert.Contains("normalised", result.Status);
        Assert.Equal(0.6 / 1.01, sources[0].GetProperty("sampled_weight").GetDouble(), 6);
    }

    [Fact]
    public void PlanTableShowsTheSameNumbersAndAcceptsSuffixes()
    {
        var result = Cli.Run("data", "plan", Table22(), "--tokens", "300B");
        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var epochs in new[] { "0.44", "3.47", "2.00", "3.00" }) Assert.Contains(epochs, result.Tables);
        Assert.Contains("webtext2", result.Tables);
    }

    [Fact]
    public void PrepareThenStatsAgreeWithTheReport()
    {
        var mixture = ShakespeareMixture();
        var outDir = Path.Combine(temp.Path, "data");
        var prepared = Cli.Run("data", "prepare", mixture, "--out", outDir, "--workers", "2", "--json");
        Assert.True(prepared.ExitCode == 0, prepared.ToString());
        var report = prepared.Json;
        var sources = report.GetProperty("sources").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!);
        Assert.Equal(60, sources["plays"].GetProperty("documents_read").GetInt64());
        Assert.Equal(1, sources["speeches"].GetProperty("skipped_records").GetInt64());
        Assert.Contains("speeches.jsonl:11", sources["speeches"].GetProperty("skip_messages")[0].GetString());
        Assert.Equal(1, sources["speeches"].GetProperty("exact_duplicates").GetInt64());
        Assert.True(File.Exists(Path.Combine(outDir, "manifest.json")));

        var stats = Cli.Run("data", "stats", outDir, "--json");
        Assert.True(stats.ExitCode == 0, stats.ToString());
        var totals = stats.Json;
        long Sum(string field) => sources.Values.Sum(s => s.GetProperty(field).GetInt64());
        Assert.Equal(Sum("documents_written") + Sum("val_documents"), totals.GetProperty("documents").GetInt64());
        Assert.Equal(report.GetProperty("total_tokens").GetInt64(), totals.GetProperty("tokens").GetInt64());
        Assert.Equal(Sum("text_bytes"), totals.GetProperty("text_bytes").GetInt64());
        Assert.True(totals.GetProperty("tokens").GetInt64() > 10_000);
        foreach (var row in totals.GetProperty("sources").EnumerateArray())
        {
            var source = sources[row.GetProperty("name").GetString()!];
            Assert.Equal(source.GetProperty("documents_written").GetInt64() + source.GetProperty("val_documents").GetInt64(), row.GetProperty("documents").GetInt64());
            Assert.Equal(source.GetProperty("tokens_written").GetInt64() + source.GetProperty("val_tokens").GetInt64(), row.GetProperty("tokens").GetInt64());
            Assert.Equal(source.GetProperty("text_bytes").GetInt64(), row.GetProperty("text_bytes").GetInt64());
        }
    }

    /// <summary>--weights: training and validation windows come only from the sources given a weight; bad names and values are clear errors.</summary>
    [Fact]
    public void TrainingWeightsPickTheSourcesOfAPreparedFolder()
    {
        // Two sources of 300 documents each, so that both hold validation documents (every 100th document).
        var speeches = File.ReadAllText(TestEnvironment.Shakespeare).Split("\n\n");
        var documents = speeches.Chunk(3).Select(c => JsonSerializer.Serialize(new { text = string.Join("\n\n", c) })).ToArray();
        File.WriteAllLines(Path.Combine(temp.Path, "plays.jsonl"), documents.Take(300));
        File.WriteAllLines(Path.Combine(temp.Path, "speeches.jsonl"), documents.Skip(300).Take(300));
        var mixture = Path.Combine(temp.Path, "two.json");
        File.WriteAllText(mixture, """
            {"sources": [{"name": "plays", "paths": ["plays.jsonl"], "weight": 0.5},
                         {"name": "speeches", "paths": ["speeches.jsonl"], "weight": 0.5}], "tokenizer": "r50k_base"}
            """);
        var outDir = Path.Combine(temp.Path, "data");
        Assert.Equal(0, Cli.Run("data", "prepare", mixture, "--out", outDir, "--workers", "1").ExitCode);
        using var shards = FewShot.Data.Shards.TokenShards.Open(outDir);
        string TokensOf(string source, string split) =>
            string.Join(",", shards.Of(source, split).SelectMany(s => Enumerable.Range(0, (int)s.Length).Select(i => s[i])));
        string Row(long[] tokens, int row, int width) => string.Join(",", tokens.Skip(row * width).Take(width));

        var tokenizer = FewShot.Model.Tokenization.TokenizerStore.Load(outDir);
        var only = new Dictionary<string, double> { ["plays"] = 1, ["speeches"] = 0 };
        var source = FewShot.Training.Batches.PreparedDataSource.Open(outDir, tokenizer, seed: 5, only);
        var (inputs, targets) = (new long[8 * 16], new long[8 * 16]);
        source.NextBatch(8, 16, inputs, targets);
        var (playsTrain, speechesTrain) = (TokensOf("plays", "train"), TokensOf("speeches", "train"));
        for (var row = 0; row < 8; row++)
        {
            Assert.Contains(Row(inputs, row, 16), playsTrain);
            Assert.DoesNotContain(Row(inputs, row, 16), speechesTrain);
        }
        var playsVal = TokensOf("plays", "val");
        foreach (var (validationInputs, _) in source.ValidationBatches(4, 1, 16)) Assert.Contains(string.Join(",", validationInputs), playsVal);

        var unknown = Cli.Run("train", "--data", outDir, "--weights", "poems=1", "--layers", "1", "--heads", "1", "--embd", "16", "--ctx", "16", "--iters", "1");
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("'poems'", unknown.Stderr);
        Assert.Contains("plays, speeches", unknown.Stderr);
        var negative = Cli.Run("train", "--data", outDir, "--weights", "plays=-1", "--layers", "1", "--heads", "1", "--embd", "16", "--ctx", "16", "--iters", "1");
        Assert.NotEqual(0, negative.ExitCode);
        Assert.Contains("mixture_weights", negative.Stderr);
    }

    [Fact]
    public void PrepareShowsASummaryTableWithTheFirstBadRecord()
    {
        var result = Cli.Run("data", "prepare", ShakespeareMixture(), "--out", Path.Combine(temp.Path, "data"));
        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var header in new[] { "read", "skipped", "exact dups", "fuzzy dups", "quality-filtered", "decontaminated", "tokens", "plays", "speeches" })
            Assert.Contains(header, result.Tables);
        Assert.Contains("speeches.jsonl:11", result.Tables);
        Assert.Contains("prepare plays", result.Status);   // a progress task per (stage, source)
        Assert.Empty(result.Stdout);                         // tables went through the Spectre console, not raw stdout
    }

    [Fact]
    public void TokenizerTrainWritesALoadableBpeOfTheRequestedSize()
    {
        var corpus = Path.Combine(temp.Path, "corpus.txt");
        File.WriteAllText(corpus, File.ReadAllText(TestEnvironment.Shakespeare)[..200_000]);
        var outDir = Path.Combine(temp.Path, "tok");
        var result = Cli.Run("tokenizer", "train", corpus, "--vocab", "1000", "--out", outDir, "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(1000, result.Json.GetProperty("vocab_size").GetInt32());
        var tokenizer = FewShot.Model.Tokenization.TokenizerStore.Load(outDir);
        Assert.Equal(1000, tokenizer.VocabSize);
        const string line = "First Citizen:\nBefore we proceed any further, hear me speak.";
        var ids = tokenizer.Encode(line);
        Assert.True(ids.Length < line.Length / 2, $"{ids.Length} tokens for {line.Length} characters: merges were not learned");
        Assert.Equal(line, tokenizer.Decode(ids));
    }
}
