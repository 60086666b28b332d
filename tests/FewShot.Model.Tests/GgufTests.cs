using FewShot.Model.Inference;
using FewShot.Model.Storage;
using LLama;
using LLama.Common;
using LLama.Native;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

/// <summary>GGUF export read back by llama.cpp (through LLamaSharp): the same logits within tolerance, the same greedy ids.</summary>
public sealed class GgufTests
{
    static readonly int[] Prompt = [42, 17, 34, 99, 77, 81, 68, 30];

    // llama.cpp's logits after each prompt token, then its greedy continuation of `steps` tokens.
    static (float[][] Logits, int[] Greedy) RunLlama(string path, int[] prompt, int steps)
    {
        var parameters = new ModelParams(path)
        {
            ContextSize = 64, BatchSize = 64, Threads = 2, BatchThreads = 2, GpuLayerCount = 0,
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32, // its default F16 cache rounds keys and values
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        using var context = weights.CreateContext(parameters);
        var batch = new LLamaBatch();
        for (var i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, logits: true);
        Assert.Equal(DecodeResult.Ok, context.Decode(batch));
        var logits = Enumerable.Range(0, prompt.Length).Select(i => context.NativeHandle.GetLogitsIth(i).ToArray()).ToArray();
        var greedy = new List<int>();
        var last = logits[^1];
        for (var s = 0; s < steps; s++)
        {
            var next = Array.IndexOf(last, last.Max());
            greedy.Add(next);
            batch.Clear();
            batch.Add(next, prompt.Length + s, LLamaSeqId.Zero, logits: true);
            Assert.Equal(DecodeResult.Ok, context.Decode(batch));
            last = context.NativeHandle.GetLogitsIth(0).ToArray();
        }
        return (logits, [.. greedy]);
    }

    static float[][] TorchLogits(Gpt model, int[] ids)
    {
        using var _ = no_grad();
        using var logits = model.forward(tensor(ids.Select(i => (long)i).ToArray()).view(1, -1));
        var flat = logits.contiguous().data<float>().ToArray();
        var V = model.Config.VocabSize;
        return Enumerable.Range(0, ids.Length).Select(t => flat[(t * V)..((t + 1) * V)]).ToArray();
    }

    static int[] FusedGreedy(Gpt model, WeightFormat format, int[] prompt, int steps)
    {
        using var fused = new FusedDecoder(DecodeWeights.From(model, format), threads: 2);
        using var cache = fused.NewCache(1, 64);
        var logits = fused.Prefill(cache, 0, prompt);
        var ids = new List<int>();
        for (var s = 0; s < steps; s++)
        {
            ids.Add(Array.IndexOf(logits, logits.Max()));
            logits = fused.Step(cache, [ids[^1]]);
        }
        fused.Weights.Dispose();
        return [.. ids];
    }

    // llama.cpp's CPU GELU reads a 16-bit lookup table, which alone moves these logits by ~1e-3 at F32.
    [Theory]
    [InlineData("f32", 3e-3)]
    [InlineData("f16", 2e-2)]
    [InlineData("q8_0", 6e-2)]
    public void LlamaCppRunsTheExportWithOurLogitsAndGreedyIds(string type, double tolerance)
    {
        using var loaded = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"));
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "tiny.gguf");
        GgufExport.Write(loaded.Model, loaded.Tokenizer, path, GgufExport.ParseType(type)!.Value);

        var (llama, llamaGreedy) = RunLlama(path, Prompt, steps: 20);
        var ours = TorchLogits(loaded.Model, Prompt);
        for (var t = 0; t < Prompt.Length; t++)
        {
            var worst = ours[t].Zip(llama[t], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst < tolerance, $"{type} position {t}: largest logit difference {worst}");
        }
        var greedy = FusedGreedy(loaded.Model, type == "q8_0" ? WeightFormat.Q8_0 : WeightFormat.F32, Prompt, steps: 20);
        Assert.Equal(greedy, llamaGreedy);
    }

    [Fact]
    public void SparseOrLocalLayersAreRefusedAndLeaveNoFile()
    {
        using var model = TinyModels.Create(kinds: [AttentionKind.Dense, AttentionKind.Local]);
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "local.gguf");
        var e = Assert.Throws<ArgumentException>(() => GgufExport.Write(model, new Tokenization.ByteTokenizer(), path, GgufType.F32));
        Assert.Contains("layer 1 uses local attention", e.Message);
        Assert.Empty(Directory.GetFiles(folder.Path));
    }
}
