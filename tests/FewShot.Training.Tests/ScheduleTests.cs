using FewShot.Training.Recipes;
using FewShot.Training.Schedules;

namespace FewShot.Training.Tests;

public class ScheduleTests
{
    [Fact]
    public void WarmupIsLinearThenCosineReachesTenPercentThenStaysConstant()
    {
        var recipe = new TrainingRecipe { LearningRate = 6e-4, Iterations = 1000, WarmupIterations = 100, DecayIterations = 800 }.Validate();
        var s = LearningRateSchedule.For(recipe);
        Assert.Equal(6e-5, recipe.FloorLearningRate, 12); // 10% of the peak by default

        for (var step = 0; step < 100; step++) Assert.Equal(6e-4 * (step + 1) / 101, s.At(step, 0), 12);
        Assert.Equal(6e-4, s.At(100, 0), 12); // the cosine starts at the peak
        for (var step = 100; step <= 800; step += 7)
        {
            var progress = (step - 100) / 700.0;
            Assert.Equal(6e-5 + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (6e-4 - 6e-5), s.At(step, 0), 12);
        }
        Assert.Equal(6e-5 + 0.5 * (6e-4 - 6e-5), s.At(450, 0), 12); // half way down at the midpoint
        foreach (var step in new[] { 800, 801, 950, 5000 }) Assert.Equal(6e-5, s.At(step, 0), 12);
    }

    [Fact]
    public void LengthsInTokensFollowTokensSeenNotSteps()
    {
        var recipe = new TrainingRecipe { LearningRate = 1e-3, MinLearningRate = 1e-4, Iterations = 100, WarmupTokens = 1000, DecayTokens = 11_000 }.Validate();
        var s = LearningRateSchedule.For(recipe);
        Assert.True(s.InTokens);
        Assert.Equal(1e-3 * 500 / 1001, s.At(step: 3, tokens: 499), 12);
        Assert.Equal(1e-3, s.At(step: 999, tokens: 1000), 12);
        Assert.Equal(1e-4 + 0.5 * (1e-3 - 1e-4), s.At(step: 0, tokens: 6000), 12);
        Assert.Equal(1e-4, s.At(step: 0, tokens: 20_000), 12);
    }

    [Fact]
    public void BatchRampsLinearlyInTokensInWholeMicroBatches()
    {
        // Micro-batch 4 x 64 = 256 tokens; full batch 16 micro-batches (4096 tokens); ramp from 512 tokens over 10,000 tokens.
        var recipe = new TrainingRecipe { MicroBatch = 4, ContextLength = 64, BatchTokens = 4096, BatchRampTokens = 10_000, BatchRampStartTokens = 512 }.Validate();
        var ramp = BatchRamp.For(recipe);
        Assert.Equal(16, ramp.FullMicroBatches);
        foreach (var seen in new long[] { 0, 1000, 2500, 5000, 7777, 9999 })
        {
            var expectedTokens = 512 + (4096 - 512) * seen / 10_000.0;
            Assert.Equal((int)Math.Max(1, Math.Floor(expectedTokens / 256)), ramp.MicroBatchesAt(seen));
        }
        Assert.Equal(2, ramp.MicroBatchesAt(0));
        Assert.Equal(16, ramp.MicroBatchesAt(10_000));
        Assert.Equal(16, ramp.MicroBatchesAt(1_000_000));
        Assert.Equal(16, BatchRamp.For(new TrainingRecipe { MicroBatch = 4, ContextLength = 64, BatchTokens = 4096 }).MicroBatchesAt(0)); // no ramp
    }
}
