using FewShot.Model.Inference;
using FewShot.Model.Storage;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

/// <summary>Q8_0 weights: close to F32, the same greedy ids where F32's choice is clear, and model folders stored in 8 bits.</summary>
[Collection(ProcessWideSettings.Collection)]
public sealed class QuantizationTests
{
    [Fact]
    public void QuantisedBlocksRoundTripWithinHalfAStep()
    {
        var values = Enumerable.Range(0, 64).Select(i => MathF.Sin(i * 0.37f) * (i < 32 ? 0.02f : 3f)).ToArray();
        var q = new sbyte[32];
        for (var b = 0; b < 2; b++)
        {
            var block = values.AsSpan(b * 32, 32);
            var scale = Q8Matrix.QuantizeBlock(block, q);
            Assert.Equal(scale, (float)(Half)scale); // stored as a 16-bit float, as GGUF's Q8_0 does
            Assert.Equal(127, q.Max(v => Math.Abs((int)v)));
            for (var i = 0; i < 32; i++) Assert.True(Math.Abs(block[i] - scale * q[i]) <= scale * 0.5001f, $"block {b} value {i}");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Q8GreedyIdsMatchF32WhereTheChoiceIsClear(bool vectors)
    {
        using var loaded = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"));
        var prompt = FusedDecoderTests.Expected.GetProperty("greedy").GetProperty("prompt").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var path = new KernelPath(vectors);
        try
        {
            using var f32 = new FusedDecoder(DecodeWeights.From(loaded.Model, WeightFormat.F32), threads: 2);
            using var q8 = new FusedDecoder(DecodeWeights.From(loaded.Model, WeightFormat.Q8_0), threads: 2);
            Assert.True(q8.Weights.BytesPerToken < f32.Weights.BytesPerToken / 2, "Q8_0 reads under half of F32's bytes");
            using var cacheF = f32.NewCache(1, 64);
            using var cacheQ = q8.NewCache(1, 64);
            var logitsF = f32.Prefill(cacheF, 0, prompt);
            var logitsQ = q8.Prefill(cacheQ, 0, prompt);
            var compared = 0;
            for (var step = 0; step < 40; step++)
            {
                var order = logitsF.Select((v, i) => (v, i)).OrderByDescending(p => p.v).ToArray();
                var worst = logitsF.Zip(logitsQ, (a, b) => Math.Abs(a - b)).Max();
                var spread = logitsF.Max() - logitsF.Min();
                Assert.True(worst < 0.02 * spread, $"step {step}: logits differ by {worst}, {worst / spread:P1} of their spread {spread}");
                var idF = order[0].i;
                var idQ = Array.IndexOf(logitsQ, logitsQ.Max());
                if (order[0].v - order[1].v > 0.05) { Assert.Equal(idF, idQ); compared++; }
                logitsF = f32.Step(cacheF, [idF]);
                logitsQ = q8.Step(cacheQ, [idF]); // both follow F32's path, so every step compares like with like
            }
            Assert.True(compared >= 30, $"only {compared} of 40 steps had a clear choice");
            f32.Weights.Dispose();
            q8.Weights.Dispose();
        }
        finally { path.Dispose(); }
    }

    [Fact]
    public void QuantizedFolderIsSmallerLoadsDequantisedAndDecodesTheSameAsQuantisingAtLoad()
    {
        using var folder = new TempFolder();
        using (var imported = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"))) ModelFolder.Save(imported.Model, imported.Tokenizer, folder.Path);
        var weightsPath = Path.Combine(folder.Path, ModelFolder.WeightsFile);
        var before = new FileInfo(weightsPath).Length;
        using var original = ModelFolder.Load(folder.Path);
        Assert.Equal(WeightFormat.F32, original.Stored);

        ModelFolder.Quantize(folder.Path, WeightFormat.Q8_0);
        Assert.True(new FileInfo(weightsPath).Length < before / 2, "the Q8_0 file is less than half the F32 file");
        Assert.False(File.Exists(weightsPath + ".tmp"));
        using var quantized = ModelFolder.Load(folder.Path);
        Assert.Equal(WeightFormat.Q8_0, quantized.Stored);

        using var atLoad = FusedDecoding.From(original.Model, WeightFormat.Q8_0, threads: 1);
        using var fromFolder = FusedDecoding.From(quantized.Model, quantized.Stored, threads: 1);
        int[] prompt = [5, 17, 33, 2, 90];
        using var a = atLoad.Open(1, 16);
        using var b = fromFolder.Open(1, 16);
        using var la = a.Prefill(0, [prompt]);
        using var lb = b.Prefill(0, [prompt]);
        Assert.True(la.equal(lb).all().item<bool>(), "quantising the dequantised weights again changes nothing");
    }

    [Fact]
    public void AnUnknownQuantisationIsRefusedNamingIt()
    {
        using var folder = new TempFolder();
        using (var imported = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"))) ModelFolder.Save(imported.Model, imported.Tokenizer, folder.Path);
        var path = Path.Combine(folder.Path, ModelFolder.WeightsFile);
        var tensors = SafeTensors.Load(path);
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { [QuantizedWeights.MetadataKey] = "q4_k" });
        var e = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(folder.Path));
        Assert.Contains("'q4_k'", e.Message);
        Assert.Contains("does not know", e.Message);
    }
}
