using FewShot.Tasks;
using System.Text.Json;
using System.Text.RegularExpressions;
using FewShot.Data.Builtin;
using FewShot.Data.Mixture;
using FewShot.Tasks.WordLists;

namespace FewShot.Data.Tests;

public class BuiltinCorpusTests
{
    [Fact]
    public void BuildsAtLeastTwentyMegabytesOfTextWithEverySource()
    {
        var mixture = MixtureSpec.Builtin(TestPaths.BuiltinCache);
        Assert.Equal(["encyclopedia", "xmldocs-raw", "dialogues", "arithmetic", "wordscramble", "wordlists"], mixture.Sources.Select(s => s.Name));
        Assert.Equal(1.0, mixture.Sources.Sum(s => s.Weight), 6);
        Assert.Equal(0.20, mixture.Sources.Single(s => s.Name == "wordlists").Weight, 6);
        long total = 0;
        foreach (var source in mixture.Sources)
        {
            var file = source.Paths.Single();
            var bytes = new FileInfo(file).Length;
            Assert.True(bytes > 500_000, $"{source.Name}: only {bytes} bytes");
            total += bytes;
        }
        Assert.True(total >= 20_000_000, $"the built-in corpus has {total:N0} bytes");
    }

    [Fact]
    public void HeldOutNamespacesAreAbsentFromTrainingSourcesAndPresentInTheOodFiles()
    {
        var folder = Path.GetDirectoryName(MixtureSpec.Builtin(TestPaths.BuiltinCache).Sources[0].Paths[0])!;
        // Held-out members are never the subject of an entry or a question (other summaries may still mention them).
        foreach (var name in new[] { "encyclopedia", "dialogues" })
            foreach (var json in File.ReadLines(Path.Combine(folder, name + ".jsonl")))
                foreach (var line in JsonDocument.Parse(json).RootElement.GetProperty("text").GetString()!.Split('\n'))
                    foreach (var ns in BuiltinCorpus.HeldOutNamespaces)
                    {
                        Assert.False(line.StartsWith(ns + "."), line);
                        Assert.False(line.StartsWith("User: ") && line.Contains(" " + ns + "."), line);
                    }
        var ood = File.ReadLines(Path.Combine(folder, "ood-encyclopedia.jsonl")).ToList();
        Assert.Contains(ood, l => l.Contains("System.Security.Cryptography.Aes"));
        Assert.Contains(ood, l => l.Contains("System.Xml."));
        var encyclopedia = File.ReadLines(Path.Combine(folder, "encyclopedia.jsonl")).First(l => l.Contains("\"System.String: "));
        Assert.Matches("System\\.String\\.Trim: Removes all leading and trailing", JsonDocument.Parse(encyclopedia).RootElement.GetProperty("text").GetString()!);
    }

    [Fact]
    public void SyntheticDocumentsHoldManyExamplesOfOneTaskInThePapersFormat()
    {
        var folder = Path.GetDirectoryName(MixtureSpec.Builtin(TestPaths.BuiltinCache).Sources[0].Paths[0])!;
        var arithmetic = JsonDocument.Parse(File.ReadLines(Path.Combine(folder, "arithmetic.jsonl")).First()).RootElement.GetProperty("text").GetString()!;
        // The description, then the examples in the layout of GPT-3's released files (first document: 2D+).
        Assert.Matches($@"^{Regex.Escape(SyntheticTasks.Arithmetic[0].Description)}(\n\nQ: What is \d{{1,2}} plus \d{{1,2}}\?\n\nA: \d+){{{BuiltinCorpus.ExamplesPerDocument}}}$", arithmetic);
        var scramble = JsonDocument.Parse(File.ReadLines(Path.Combine(folder, "wordscramble.jsonl")).First()).RootElement.GetProperty("text").GetString()!.Split('\n');
        Assert.Equal(SyntheticTasks.WordScrambling[0].Description, scramble[0]);
        Assert.All(scramble.Skip(1), l => Assert.Matches(@"^[a-z]{5,14} = [a-z]{5,14}$", l));   // first document: CL
        var dialogue = JsonDocument.Parse(File.ReadLines(Path.Combine(folder, "dialogues.jsonl")).First()).RootElement.GetProperty("text").GetString()!;
        Assert.Matches(@"^User: What (is|does) [^\n]+\?\nAssistant: .+", dialogue);
    }

    [Fact]
    public void SyntheticDocumentsAreTheSameInEveryProcess()
    {
        // Pinned text: a seed that changed from one process to the next (as HashCode.Combine does) would change it.
        var first = SyntheticDocuments.Arithmetic(documentsPerTask: 1, BuiltinCorpus.Seed).First().Split("\n\n");
        Assert.Equal(["Q: What is 20 plus 76?", "A: 96", "Q: What is 88 plus 84?", "A: 172"], first[1..5]);
    }

    [Fact]
    public void WordListDocumentsHoldExamplesOfOneRuleWhichOnlyTheExamplesName()
    {
        var folder = Path.GetDirectoryName(MixtureSpec.Builtin(TestPaths.BuiltinCache).Sources[0].Paths[0])!;
        var documents = File.ReadLines(Path.Combine(folder, "wordlists.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!.Split('\n')).ToList();
        Assert.Equal(1500 * SyntheticTasks.WordLists.Count, documents.Count);
        var first = documents[0];                                                                   // WL-first, with the description
        Assert.Equal(2 * BuiltinCorpus.ExamplesPerDocument + 1, first.Length);
        Assert.Equal(WordListRuleTask.GenericDescription, first[0]);
        Assert.All(first.Skip(1).Chunk(2), e => Assert.Matches(@"^Q: (?<first>[a-z]{5,7})( [a-z]{5,7}){2,4}\nA: \k<first>$", string.Join('\n', e)));
        var undescribed = documents[SyntheticTasks.WordLists.Count];                               // the second round: no description
        Assert.Equal(2 * BuiltinCorpus.ExamplesPerDocument, undescribed.Length);
        Assert.All(undescribed.Chunk(2), e => Assert.Matches(@"^Q:( [a-z]{5,7}){3,5}\nA:( [a-z]{5,7})+$", string.Join('\n', e)));

        // The evaluation draws its test lists with seed 2 (its task files); the corpus's seeds are others, so no
        // test line is a training line.
        var training = documents.SelectMany(d => d.SkipWhile(l => l == WordListRuleTask.GenericDescription).Chunk(2).Select(e => string.Join('\n', e))).ToHashSet();
        foreach (var task in SyntheticTasks.WordLists)
            Assert.DoesNotContain(task.Generate(task.DefaultCount, seed: 2), e => training.Contains(e.Text));
    }
}
