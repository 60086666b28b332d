using FewShot.Training.Scaling;

namespace FewShot.Training.Tests;

public class ScalingTests
{
    [Fact]
    public void PowerLawFitRecoversTheExponent()
    {
        var points = new[] { 1e-9, 1e-8, 3e-8, 1e-7, 1e-6 }.Select(c => (c, 2.57 * Math.Pow(c, -0.048))).ToList();
        var fit = PowerLawFit.Fit(points);
        Assert.Equal(2.57, fit.A, 6);
        Assert.Equal(0.048, fit.B, 9);
        Assert.Equal(1.0, fit.RSquared, 9);

        var noisy = points.Select((p, i) => (p.c, p.Item2 * (i % 2 == 0 ? 1.01 : 0.99))).ToList();
        Assert.InRange(PowerLawFit.Fit(noisy).RSquared, 0.0, 0.999);
    }

    [Fact]
    public void FrontierKeepsOnlyPointsThatBeatEverythingCheaper()
    {
        var small = new ScalingSize(1, 32, 2);
        var large = new ScalingSize(2, 64, 2);
        ScalingPoint P(ScalingSize s, double c, double l) => new(s, 1, 0, 0, c, l);
        var points = new[] { P(small, 1, 3.0), P(small, 2, 2.5), P(small, 4, 2.3), P(large, 2, 2.8), P(large, 4, 2.2), P(large, 8, 1.9), P(small, 8, 2.2) };
        var frontier = ScalingStudy.Frontier(points);
        Assert.Equal(new[] { (1.0, 3.0), (2.0, 2.5), (4.0, 2.2), (8.0, 1.9) }, frontier.Select(p => (p.PetaflopDays, p.Loss)));
    }

    [Fact]
    public void SmallStudyOnRealTextFitsADecreasingPowerLaw()
    {
        var text = File.ReadAllText(TestPaths.Shakespeare)[..200_000];
        var tokenizer = FewShot.Model.Tokenization.CharTokenizer.FromText(text);
        var options = new ScalingOptions { Sizes = [new(1, 16, 2), new(1, 32, 2)], Steps = 40, Evaluations = 4, EvalBatches = 4, Context = 32, MicroBatch = 8 };
        var result = ScalingStudy.Run(tokenizer.Encode(text), tokenizer, options);
        Assert.Equal(8, result.Points.Count);
        Assert.True(result.Fit.B > 0, result.Fit.ToString()); // more compute, lower loss
        Assert.True(result.Frontier.Count >= 2);
        using var temp = new TempFolder();
        var png = Path.Combine(temp.Path, "scaling.png");
        ScalingPlot.Write(result, png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);
    }
}
