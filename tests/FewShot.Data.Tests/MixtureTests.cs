using FewShot.Data.Mixture;

namespace FewShot.Data.Tests;

public class MixtureTests
{
    const string Table22 = """
        {"sources": [
          {"name": "common-crawl", "tokens": 410e9, "weight": 0.60},
          {"name": "webtext2", "tokens": 19e9, "weight": 0.22},
          {"name": "books1", "tokens": 12e9, "weight": 0.08},
          {"name": "books2", "tokens": 55e9, "weight": 0.08},
          {"name": "wikipedia", "tokens": 3e9, "weight": 0.03}
        ]}
        """;

    [Fact]
    public void PlanGivesTheArithmeticEpochsOfTable22()
    {
        var mixture = MixtureSpec.Parse(Table22, ".");
        Assert.Contains(mixture.Warnings, w => w.Contains("1.01"));   // the paper's weights sum to 101%
        var plan = DataPlanner.Plan(mixture, 300e9).ToDictionary(r => r.Name);
        Assert.Equal(0.60, plan["common-crawl"].Weight, 6);
        Assert.Equal(0.44, plan["common-crawl"].Epochs, 2);   // 300e9 * 0.6 / 410e9 = 0.439, printed 0.44
        Assert.Equal(3.47, plan["webtext2"].Epochs, 2);       // printed 2.9
        Assert.Equal(2.00, plan["books1"].Epochs, 2);         // printed 1.9
        Assert.Equal(0.44, plan["books2"].Epochs, 2);         // printed 0.43
        Assert.Equal(3.00, plan["wikipedia"].Epochs, 2);      // printed 3.4
        Assert.Equal(0.6 / 1.01, plan["common-crawl"].SampledWeight, 6);
        Assert.Equal(0.6 / 1.01 * 300 / 410, plan["common-crawl"].SampledEpochs, 6);
    }

    [Fact]
    public void WeightsNotSummingToOneAreNormalisedWithAWarning()
    {
        var mixture = MixtureSpec.Parse("""{"sources":[{"name":"a","paths":["x"],"weight":3},{"name":"b","paths":["y"],"weight":1}]}""", ".", "m.json");
        Assert.Equal([0.75, 0.25], mixture.Sources.Select(s => s.Weight));
        Assert.Contains("m.json: weights sum to 4", Assert.Single(mixture.Warnings));
    }

    [Theory]
    [InlineData("""{"sources":[]}""", "names no source")]
    [InlineData("""{"tokenizer":"bytes"}""", "names no source")]
    [InlineData("""{"sources":[{"name":"a","weight":-1}]}""", "'weight' must be >= 0")]
    [InlineData("""{"sources":[{"name":"a","weight":1},{"name":"a","weight":1}]}""", "used twice")]
    [InlineData("""{"sources":[{"name":"a","weight":1,"role":"gold"}]}""", "'role'")]
    [InlineData("""{"sources":[{"name":"a","weight":1}""", "m.json")]
    public void BadMixturesGiveClearMessages(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => MixtureSpec.Parse(json, ".", "m.json"));
        Assert.Contains(expected, error.Message);
        Assert.StartsWith("m.json", error.Message);
    }

    [Fact]
    public void LoadResolvesPathsAgainstTheMixtureFolder()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("m.json"), """{"sources":[{"name":"a","paths":["data/*.txt"],"weight":1}], "tokenizer":"bytes"}""");
        var mixture = MixtureSpec.Load(temp.File("m.json"));
        Assert.Equal(temp.Path, mixture.BaseDirectory);
        Assert.Equal("bytes", mixture.Tokenizer);
        Assert.Throws<FileNotFoundException>(() => MixtureSpec.Load(temp.File("missing.json")));
    }
}
