namespace FewShot.Model.Tests;

public sealed class PresetTests
{
    [Theory]
    [InlineData("gpt3-small", 125e6)]
    [InlineData("gpt3-large", 760e6)]
    [InlineData("gpt3-6.7b", 6.7e9)]
    [InlineData("gpt3-175b", 175.0e9)]
    public void ParameterCountsMatchThePaperWithinOnePercent(string preset, double paper)
    {
        var info = ModelInfo.Of(Presets.Get(preset).Config);
        Assert.InRange(info.Parameters / paper, 0.99, 1.01);
    }

    [Theory]
    [InlineData("gpt3-medium", 350e6)]
    [InlineData("gpt3-xl", 1.3e9)]
    [InlineData("gpt3-2.7b", 2.7e9)]
    [InlineData("gpt3-13b", 13.0e9)]
    public void RowsThePaperRoundsToTwoFiguresAgreeWithinTwoPercent(string preset, double paper)
    {
        // 355.9M, 1.32B, 2.65B and 12.85B: the paper prints these rounded (Medium is GPT-2 Medium's 355M).
        var info = ModelInfo.Of(Presets.Get(preset).Config);
        Assert.InRange(info.Parameters / paper, 0.98, 1.02);
    }

    [Fact]
    public void CountMatchesTheAllocatedModel()
    {
        using var model = new Gpt(Presets.Get("mini").Config);
        Assert.Equal(model.parameters().Sum(p => p.numel()), ModelInfo.Of(model.Config).Parameters);
        using var noBias = new Gpt(Presets.Get("char-tiny").Config with { Bias = false });
        Assert.Equal(noBias.parameters().Sum(p => p.numel()), ModelInfo.Of(noBias.Config).Parameters);
    }

    [Fact]
    public void TrainingFlopsFollowSixNPlusAttention()
    {
        var c = Presets.Get("mini").Config;
        var info = ModelInfo.Of(c);
        var n = info.Parameters - info.PositionParameters;
        Assert.Equal(6.0 * n + 12.0 * c.Layers * c.Embedding * c.ContextLength, info.TrainingFlopsPerToken);
    }

    [Fact]
    public void PresetsAlternateDenseAndLocalLayersAsGpt3()
    {
        var c = Presets.Get("gpt3-small").Config;
        Assert.Equal(12, c.AttentionTypes.Length);
        Assert.All(c.AttentionTypes.Where((_, i) => i % 2 == 0), k => Assert.Equal(AttentionKind.Dense, k));
        Assert.All(c.AttentionTypes.Where((_, i) => i % 2 == 1), k => Assert.Equal(AttentionKind.Local, k));
    }

    [Fact]
    public void UnknownPresetIsAClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => Presets.Get("gpt3-huge"));
        Assert.Contains("gpt3-huge", e.Message);
        Assert.Contains("gpt3-small", e.Message);
    }
}
