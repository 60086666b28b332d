using FewShot.Evaluation.Contamination;

namespace FewShot.Evaluation.Tests.Running;

public class ContaminationTests
{
    [Fact]
    public void NormalisationLowerCasesAndDropsPunctuation()
    {
        Assert.Equal(["q", "what", "is", "48", "plus", "76", "a", "124"], NGrams.Normalise("Q: What is 48 plus 76? A: 124"));
        var (n, hashes) = NGrams.Of("It's the END, my friend!");
        Assert.Equal(5, n);
        Assert.Equal(hashes, NGrams.Of("its the end my   friend").Hashes);
    }

    [Fact]
    public void APlantedContaminatedExampleIsFlaggedAndOnlyIt()
    {
        using var data = new TempFolder();
        var shakespeare = File.ReadAllText(TestEnvironment.Shakespeare)[..200_000];
        var planted = "Q: Which .NET type is this? Manages a compact array of bit values, which are represented as Booleans. A: BitArray";
        File.WriteAllText(Path.Combine(data.Path, "part1.txt"), shakespeare);
        File.WriteAllText(Path.Combine(data.Path, "part2.jsonl"),
            "{\"text\": \"unrelated words\"}\n{\"text\": \"Some preface. " + planted.ToUpperInvariant().Replace(".", ";") + " and more\"}\n");

        var line = shakespeare.Split('\n').First(l => l.Split(' ').Length >= 8); // a short Shakespeare line: its own n-gram
        var texts = new[]
        {
            "Q: Which .NET type is this? Represents a dictionary of keys and values for a test. A: Dictionary",
            planted,
            line,
            "Q: What is 48 plus 76? A: 124",
        };
        var checker = new TrainingDataChecker(data.Path);
        var flags = checker.FindContaminated(texts);
        Assert.Equal([false, true, true, false], flags);
        Assert.Equal(2, checker.FilesScanned);
    }

    [Fact]
    public void AFolderWithoutTrainingDataIsAnError()
    {
        using var data = new TempFolder();
        Assert.Throws<InvalidDataException>(() => new TrainingDataChecker(data.Path).FindContaminated(["x"]));
        Assert.Throws<DirectoryNotFoundException>(() => new TrainingDataChecker(data.File("missing")).FindContaminated(["x"]));
    }
}
