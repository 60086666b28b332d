using System.Diagnostics;
using FewShot.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Training.Loop;

/// <summary>Training FLOPs per token and the machine's matmul rate they are compared with.</summary>
public static class ModelFlops
{
    /// <summary>Parameters without the position embeddings (the token embedding counts: it is the tied output head).</summary>
    public static long NonPositionParameters(GptConfig c) =>
        (long)c.VocabSize * c.Embedding + c.Layers * (12L * c.Embedding * c.Embedding + 13L * c.Embedding) + 2L * c.Embedding;

    /// <summary>Parameters without any embedding (Kaplan et al.'s N, used for compute in the scaling study).</summary>
    public static long NonEmbeddingParameters(GptConfig c) => c.Layers * 12L * c.Embedding * c.Embedding;

    /// <summary>Forward + backward FLOPs per training token: 6N + 12 L d T (PaLM's appendix B, nanoGPT's estimate_mfu).</summary>
    public static double PerToken(GptConfig c) =>
        6.0 * NonPositionParameters(c) + 12.0 * c.Layers * c.Embedding * c.ContextLength;

    /// <summary>FLOP/s of an n x n fp32 matmul on <paramref name="device"/> with the current thread setting (best of a few).</summary>
    public static double MatmulRate(int n = 2048, int repeats = 3, Device? device = null)
    {
        using var scope = NewDisposeScope();
        // Its own generator: measuring must not move the training RNG (a resumed run would drop out different units).
        using var generator = new Generator(0);
        var a = randn([n, n], generator: generator).to(device ?? CPU);
        var b = randn([n, n], generator: generator).to(device ?? CPU);
        _ = matmul(a, b); // warm up (allocation, thread pool)
        var best = double.MaxValue;
        for (var i = 0; i < repeats; i++)
        {
            var watch = Stopwatch.StartNew();
            using var c = matmul(a, b);
            if (c.device.type == DeviceType.CUDA) cuda.synchronize();
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return 2.0 * n * n * n / best;
    }
}
