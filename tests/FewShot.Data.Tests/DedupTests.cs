using FewShot.Data.Dedup;

namespace FewShot.Data.Tests;

public class DedupTests
{
    /// <summary>Edits a few words of a speech (the kind of near-duplicate web crawls are full of).</summary>
    static string NearCopy(string text, Random random)
    {
        var words = text.Split(' ');
        for (var i = 0; i < 2; i++) words[random.Next(words.Length)] = "changed";
        return "Reposted: " + string.Join(' ', words) + " (copy)";
    }

    [Fact]
    public void PlantedNearDuplicatesAreFoundAndOriginalsKept()
    {
        var originals = TestPaths.Speeches.Where(s => s.Length > 600).Take(600).ToList();
        var random = new Random(5);
        var planted = originals.Take(40).Select(o => NearCopy(o, random)).ToList();
        var dedup = new MinHashDeduplicator();
        var options = new MinHashOptions();
        var keptOriginals = originals.Count(o => dedup.TryAdd(MinHashDeduplicator.Signature(o, options)));
        var foundCopies = planted.Count(p => !dedup.TryAdd(MinHashDeduplicator.Signature(p, options)));
        Assert.True(keptOriginals >= originals.Count - 3, $"{originals.Count - keptOriginals} distinct speeches were taken for duplicates");
        Assert.True(foundCopies >= 38, $"only {foundCopies} of 40 planted near-duplicates were found");
    }

    [Fact]
    public void ExactDuplicatesAreFoundByContentHash()
    {
        var exact = new ExactDeduplicator();
        Assert.True(exact.TryAdd(ExactDeduplicator.Hash(TestPaths.Speeches[0])));
        Assert.False(exact.TryAdd(ExactDeduplicator.Hash(new string(TestPaths.Speeches[0].ToCharArray()))));
        Assert.True(exact.TryAdd(ExactDeduplicator.Hash(TestPaths.Speeches[0] + ".")));
    }
}
