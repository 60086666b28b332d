namespace FewShot.Cli.Tests;

/// <summary>Bad input gives exit code 2 and one line naming the file or field, never a stack trace or a folder that looks complete.</summary>
public sealed class BadInputTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    static void AssertOneLineError(CliResult result, string expected)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain(" at ", result.Stderr.Replace("at least", ""));
        Assert.Empty(result.Stdout);
    }

    string Write(string name, string text)
    {
        var path = Path.Combine(temp.Path, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void UnknownWeightInitIsNamed()
    {
        var text = Write("tiny.txt", string.Concat(Enumerable.Repeat("to be or not to be, that is the question. ", 40)));
        var outDir = Path.Combine(temp.Path, "run");
        AssertOneLineError(Cli.Run("train", "--text", text, "--tokenizer", "char", "--weight-init", "xavier", "--iters", "1", "--out", outDir), "'weight_init' must be gpt2 or pytorch, got 'xavier'");
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void MissingMixtureFileIsNamed()
    {
        var outDir = Path.Combine(temp.Path, "out");
        AssertOneLineError(Cli.Run("data", "prepare", Path.Combine(temp.Path, "nowhere.json"), "--out", outDir), "nowhere.json");
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void MixtureWithoutSourcesNamesTheField()
    {
        var mixture = Write("empty-mixture.json", """{"sources": []}""");
        AssertOneLineError(Cli.Run("data", "prepare", mixture, "--out", Path.Combine(temp.Path, "out"), "--json"), "'sources'");
        AssertOneLineError(Cli.Run("data", "plan", mixture, "--tokens", "1e9"), "empty-mixture.json");
    }

    [Fact]
    public void EmptyCorpusFailsWithoutAManifest()
    {
        Write("blank.txt", "   \n\n  \n");
        var mixture = Write("mixture.json", """{"sources": [{"name": "blank", "paths": ["blank.txt"], "weight": 1}], "tokenizer": "bytes"}""");
        var outDir = Path.Combine(temp.Path, "out");
        var result = Cli.Run("data", "prepare", mixture, "--out", outDir, "--json");
        AssertOneLineError(result, "empty corpus");
        Assert.Contains("blank", result.Stderr);
        Assert.False(File.Exists(Path.Combine(outDir, "manifest.json")));
        // A folder without a manifest is refused by stats as incomplete.
        Assert.Equal(2, Cli.Run("data", "stats", outDir).ExitCode);
    }

    [Fact]
    public void MissingCorpusPathIsNamed()
    {
        var mixture = Write("mixture.json", """{"sources": [{"name": "web", "paths": ["crawl/*.jsonl"], "weight": 1}]}""");
        AssertOneLineError(Cli.Run("data", "prepare", mixture, "--out", Path.Combine(temp.Path, "out")), "crawl/*.jsonl");
    }

    [Theory]
    [InlineData("lots", "not a number")]
    [InlineData("12x", "not a number")]
    [InlineData("-5e9", "positive")]
    public void NonNumericTokensNamesTheOption(string tokens, string reason)
    {
        var mixture = Write("plan.json", """{"sources": [{"name": "web", "tokens": 1e9, "weight": 1}]}""");
        var result = Cli.Run("data", "plan", mixture, "--tokens", tokens);
        AssertOneLineError(result, "--tokens");
        Assert.Contains(reason, result.Stderr);
    }

    [Fact]
    public void PlanOfASourceWithoutSizeSaysWhatToAdd()
    {
        var mixture = Write("plan.json", """{"sources": [{"name": "web", "paths": ["x.txt"], "weight": 1}]}""");
        AssertOneLineError(Cli.Run("data", "plan", mixture, "--tokens", "1e9"), "\"tokens\"");
    }

    [Fact]
    public void StatsOfAMissingFolderFails() =>
        Assert.Equal(2, Cli.Run("data", "stats", Path.Combine(temp.Path, "nothing-here")).ExitCode);

    [Fact]
    public void TokenizerTrainNeedsExactlyOneCorpus()
    {
        AssertOneLineError(Cli.Run("tokenizer", "train", "--vocab", "300", "--out", Path.Combine(temp.Path, "tok")), "--mixture");
        var corpus = Write("a.txt", "some text to train on");
        AssertOneLineError(Cli.Run("tokenizer", "train", corpus, "--vocab", "100", "--out", Path.Combine(temp.Path, "tok")), "--vocab");
    }

    [Fact]
    public void BenchDataRejectsBadSizesBeforeBuildingAnything()
    {
        AssertOneLineError(Cli.Run("bench", "data", "--megabytes", "0"), "--megabytes");
        AssertOneLineError(Cli.Run("bench", "data", "--dedup-sizes", "10,abc"), "--dedup-sizes");
    }

    [Fact]
    public void NgramSamplingBelowOneIsNamed()
    {
        var mixture = Write("mixture.json", """{"sources": [{"name": "s", "paths": ["s.txt"], "weight": 1}], "tokenizer": "bytes"}""");
        Write("s.txt", "some words of text");
        AssertOneLineError(Cli.Run("data", "prepare", mixture, "--out", Path.Combine(temp.Path, "out"), "--ngram-sampling", "0"), "--ngram-sampling");
    }

    /// <summary>Access settings come from the settings file like the serving ones, and are checked before the server starts.</summary>
    [Fact]
    public void AnAccessSettingOutOfRangeInTheSettingsFileIsNamedBeforeTheServerStarts()
    {
        var model = Path.Combine(temp.Path, "model");
        Assert.Equal(0, Cli.Run("import-hf", TestPaths.Fixture("gpt2-tiny"), "--out", model).ExitCode);
        var database = Path.Combine(temp.Path, "access.db");
        var settings = Write("settings.json", $$$"""{"Access": {"IpRequestsPerMinute": 0, "DatabasePath": "{{{database}}}"}}""");
        AssertOneLineError(Cli.Run("serve", "--model", model, "--config", settings, "--urls", "http://127.0.0.1:0"), "IpRequestsPerMinute");
        Assert.False(File.Exists(database));   // nothing written
    }

    /// <summary>A malformed store or limits location, on the command line or in the settings file, is named before anything is opened or written.</summary>
    [Fact]
    public void AMalformedStoreOrLimitsIsNamedWithoutItsPasswordAndNothingIsWritten()
    {
        var model = Path.Combine(temp.Path, "model");
        Assert.Equal(0, Cli.Run("import-hf", TestPaths.Fixture("gpt2-tiny"), "--out", model).ExitCode);
        var database = Path.Combine(temp.Path, "access.db");
        var flag = Cli.Run("serve", "--model", model, "--db", database, "--store", "postgres://fewshot:hunter2@db.internal:5432/", "--urls", "http://127.0.0.1:0");
        AssertOneLineError(flag, "Access:Store");
        Assert.DoesNotContain("hunter2", flag.Stderr);
        var settings = Write("store.json", $$$"""{"Access": {"Store": "mysql://db.internal/access", "DatabasePath": "{{{database}}}"}}""");
        AssertOneLineError(Cli.Run("serve", "--model", model, "--config", settings, "--urls", "http://127.0.0.1:0"), "Access:Store");
        var limits = Cli.Run("serve", "--model", model, "--db", database, "--limits", "redis://:hunter2@cache.internal:6379/99", "--urls", "http://127.0.0.1:0");
        AssertOneLineError(limits, "Access:Limits");
        Assert.DoesNotContain("hunter2", limits.Stderr);
        AssertOneLineError(Cli.Run("serve", "--model", model, "--db", database, "--limits-fail", "maybe", "--urls", "http://127.0.0.1:0"), "Access:LimitsFail");
        Assert.False(File.Exists(database));
    }
}
