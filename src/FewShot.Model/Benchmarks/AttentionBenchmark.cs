using System.Diagnostics;
using static TorchSharp.torch;

namespace FewShot.Model.Benchmarks;

/// <summary>One measurement: forward + backward of one attention layer's kernel at one context length.</summary>
public sealed record AttentionResult(string Pattern, int Context, int Window, int Heads, int HeadSize, double Seconds, long PeakBytes);

/// <summary>
/// Times the attention kernel alone (q, k, v -> y, then backward), batch 1, for dense causal attention (libtorch's fused
/// kernel, the bar to beat) and each sparse pattern, best of a few runs; peak memory from the kernel's high-water mark.
/// </summary>
public static class AttentionBenchmark
{
    public static readonly string[] Patterns = ["dense", "local", "strided", "fixed"];

    /// <summary>Strided and fixed use l = window (so every pattern's local part matches) and, for fixed, 8 summary columns.</summary>
    public static AttentionResult Run(string pattern, int context, int window, int heads = 6, int headSize = 64, int runs = 3)
    {
        MemoryHighWater.UseFreshMappingsForLargeAllocations();
        manual_seed(0);
        using var scope = NewDisposeScope();
        var q = randn(1, heads, context, headSize, requires_grad: true);
        var k = randn(1, heads, context, headSize, requires_grad: true);
        var v = randn(1, heads, context, headSize, requires_grad: true);
        var config = new GptConfig
        {
            Layers = 1, Heads = heads, Embedding = heads * headSize, ContextLength = context, Window = window, SparseStride = window,
            AttentionTypes = [AttentionLayout.Parse(pattern, "pattern")],
        }.Validate();
        var layer = LayerPattern.For(config, 0);
        Tensor attend() => Attention.Causal(q, k, v, layer, 0);

        void Once()
        {
            using var step = NewDisposeScope();
            attend().sum().backward();
            q.grad?.zero_(); k.grad?.zero_(); v.grad?.zero_();
        }

        Once(); // warm-up
        var best = double.MaxValue;
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            Once();
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        var peak = MemoryHighWater.PeakBytesDuring(Once);
        return new AttentionResult(pattern, context, window, heads, headSize, best, peak);
    }
}
