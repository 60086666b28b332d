using System.Text.Json;
using FewShot.Data.Mixture;
using FewShot.Data.Shards;
using FewShot.Model.Tokenization;

namespace FewShot.Data.Tests;

/// <summary>One prepared three-source folder shared by the sampler tests (weights 0.5 / 0.3 / 0.2, sizes very unequal).</summary>
public sealed class PreparedFolder : IDisposable
{
    readonly TempFolder temp = new();
    public string Path => temp.File("out");

    public PreparedFolder()
    {
        var speeches = TestPaths.Speeches;
        void Write(string name, IEnumerable<string> texts) => File.WriteAllLines(temp.File(name), texts.Select(t => JsonSerializer.Serialize(new { text = t })));
        Write("big.jsonl", speeches.Take(1000));
        Write("mid.jsonl", speeches.Skip(1000).Take(300));
        Write("small.jsonl", speeches.Skip(1300).Take(60));
        var mixture = MixtureSpec.Parse("""
            {"sources":[{"name":"big","paths":["big.jsonl"],"weight":0.2},
                        {"name":"mid","paths":["mid.jsonl"],"weight":0.3},
                        {"name":"small","paths":["small.jsonl"],"weight":0.5}]}
            """, temp.Path);
        DataPipeline.Prepare(mixture, Path, new PrepareOptions { Tokenizer = new ByteTokenizer(), ValidationFraction = 0.05, MaxTokensPerShard = 100_000 });
    }

    public void Dispose() => temp.Dispose();
}

public class SamplerTests(PreparedFolder prepared) : IClassFixture<PreparedFolder>
{
    [Fact]
    public void ProportionsOverTenThousandDrawsMatchTheWeightsNotTheSizes()
    {
        using var data = TokenShards.Open(prepared.Path);
        Assert.True(data.Of("big", "train").Count() > 1);   // several shards per source
        var sampler = new MixtureSampler(data, context: 64, seed: 7);
        var counts = new Dictionary<string, int>();
        for (var i = 0; i < 10_000; i++)
        {
            var tokens = sampler.Next(out var source);
            Assert.Equal(65, tokens.Length);
            counts[source] = counts.GetValueOrDefault(source) + 1;
        }
        Assert.Equal(0.2, counts["big"] / 10_000.0, 0.02);
        Assert.Equal(0.3, counts["mid"] / 10_000.0, 0.02);
        Assert.Equal(0.5, counts["small"] / 10_000.0, 0.02);
    }

    [Fact]
    public void WithinAnEpochEveryChunkIsDrawnOnce()
    {
        using var data = TokenShards.Open(prepared.Path);
        var sampler = new MixtureSampler(data, context: 64, seed: 3, weights: new Dictionary<string, double> { ["small"] = 1 });
        var chunks = sampler.Sources.Single().Chunks;
        var seen = new HashSet<string>();
        for (var i = 0; i < chunks; i++) Assert.True(seen.Add(string.Join(',', sampler.Next())));
        Assert.Equal(0, sampler.GetState().Sources.Single().Epoch);
        sampler.Next();
        Assert.Equal(1, sampler.GetState().Sources.Single().Epoch);   // reshuffled at the boundary
    }

    [Fact]
    public void RestoringAPositionGivesTheIdenticalContinuation()
    {
        using var data = TokenShards.Open(prepared.Path);
        var sampler = new MixtureSampler(data, context: 32, seed: 11);
        var buffer = new long[4 * 33];
        for (var i = 0; i < 700; i++) sampler.NextBatch(4, buffer);   // crosses epoch boundaries of the small source
        var json = sampler.GetState().ToJson();
        var expected = Enumerable.Range(0, 300).Select(_ => string.Join(',', sampler.Next())).ToList();

        var resumed = new MixtureSampler(data, context: 32, seed: 11);
        resumed.Restore(SamplerState.FromJson(json));
        Assert.Equal(expected, Enumerable.Range(0, 300).Select(_ => string.Join(',', resumed.Next())));
        Assert.Throws<ArgumentException>(() => new MixtureSampler(data, context: 32, seed: 12).Restore(SamplerState.FromJson(json)));
    }

    [Fact]
    public void ValidationBatchesAreTheSameEveryTimeAndComeFromHeldOutDocuments()
    {
        using var data = TokenShards.Open(prepared.Path);
        var sampler = new MixtureSampler(data, context: 64, seed: 1);
        var first = sampler.ValidationBatches(count: 5, batch: 4);
        sampler.Next();
        var second = new MixtureSampler(data, context: 64, seed: 99).ValidationBatches(count: 5, batch: 4);
        Assert.Equal(first, second);
        Assert.Equal(4 * 65, first[0].Length);
        var valText = new ByteTokenizer().Decode(data.Shards.Where(s => s.Info.Split == "val").SelectMany(s => Enumerable.Range(0, (int)s.Length).Select(i => s[i])));
        var trainText = new ByteTokenizer().Decode(data.Shards.Where(s => s.Info.Split == "train").SelectMany(s => Enumerable.Range(0, (int)s.Length).Select(i => s[i])));
        var row = new ByteTokenizer().Decode(first[0][..65].Select(t => (int)t));
        Assert.Contains(row.Replace("\0", ""), valText);
        Assert.DoesNotContain(valText[..200], trainText);
    }
}
