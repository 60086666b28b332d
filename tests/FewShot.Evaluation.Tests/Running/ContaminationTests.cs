using System.Text.Json;
using FewShot.Data;
using FewShot.Data.Mixture;
using FewShot.Evaluation.Contamination;
using FewShot.Model.Tokenization;

namespace FewShot.Evaluation.Tests.Running;

/// <summary>`eval --contamination DIR` reads the training n-gram index that `data prepare` wrote into DIR.</summary>
public class ContaminationTests
{
    /// <summary>A prepared folder of Shakespeare plus one planted evaluation example (upper-cased, punctuation changed), exact index.</summary>
    static string Prepare(TempFolder temp, string planted, int sampling)
    {
        var shakespeare = File.ReadAllText(TestEnvironment.Shakespeare)[..200_000];
        var documents = shakespeare.Split("\n\n").Append("Some preface. " + planted.ToUpperInvariant().Replace(".", ";") + " and more");
        File.WriteAllLines(temp.File("train.jsonl"), documents.Select(t => JsonSerializer.Serialize(new { text = t })));
        var mixture = MixtureSpec.Parse("""{"sources":[{"name":"plays","paths":["train.jsonl"],"weight":1}]}""", temp.Path);
        DataPipeline.Prepare(mixture, temp.File("data"), new PrepareOptions { Tokenizer = new ByteTokenizer(), ValidationFraction = 0, TrainNGramSampling = sampling });
        return temp.File("data");
    }

    [Fact]
    public void APlantedContaminatedExampleIsFlaggedAndOnlyItAndShortOnesAreUnchecked()
    {
        using var temp = new TempFolder();
        var planted = "Q: Which .NET type is this? Manages a compact array of bit values, which are represented as Booleans. A: BitArray";
        var folder = Prepare(temp, planted, sampling: 1);
        var speech = File.ReadAllText(TestEnvironment.Shakespeare)[..200_000].Split("\n\n").First(l => l.Split(' ').Length >= 20); // a speech: its own 13-grams
        var texts = new[]
        {
            "Q: Which .NET type is this? Represents a dictionary of keys and values for a test. A: Dictionary",
            planted,
            speech,
            "Q: What is 48 plus 76? A: 124",   // 8 words: no 13-gram, so the index cannot say
        };
        var checker = PreparedDataChecker.Open(folder);
        Assert.Equal(1, checker.Index.Sampling);
        Assert.Equal([false, true, true, null], checker.FindContaminated(texts));
    }

    [Fact]
    public void AFolderWithoutAnIndexOrNoFolderIsAClearError()
    {
        using var temp = new TempFolder();
        Assert.Contains("missing", Assert.Throws<DirectoryNotFoundException>(() => PreparedDataChecker.Open(temp.File("missing"))).Message);
        Assert.ThrowsAny<IOException>(() => PreparedDataChecker.Open(temp.Path));   // no manifest.json
    }
}
