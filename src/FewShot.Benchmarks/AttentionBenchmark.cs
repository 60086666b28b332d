using FewShot.Model;
using System.Diagnostics;
using static TorchSharp.torch;

namespace FewShot.Benchmarks;

/// <summary>One measurement: forward + backward of one attention layer's kernel at one context length.</summary>
public sealed record AttentionResult(string Pattern, int Context, int Window, int Heads, int HeadSize, double Seconds, long PeakBytes);

/// <summary>
/// Times the attention kernel alone (q, k, v -> y, then backward), batch 1, for dense causal attention (libtorch's fused
/// kernel, the bar to beat) and each sparse pattern, best of a few runs; peak memory from the kernel's high-water mark.
/// Time every case before measuring any peak: <see cref="PeakBytes"/> switches glibc to a fresh mapping per large
/// allocation for the rest of the process, which makes allocation-heavy kernels slower than training ever sees them.
/// </summary>
public static class AttentionBenchmark
{
    public static readonly string[] Patterns = ["dense", "local", "strided", "fixed"];

    /// <summary>The head width the benchmark uses unless told otherwise (GPT-3's heads are 64 to 128 wide).</summary>
    public const int HeadSize = 64;

    /// <summary>Best of <paramref name="runs"/> forward + backward passes, in seconds, after one warm-up pass.</summary>
    public static double Seconds(string pattern, int context, int window, int heads = 6, int headSize = HeadSize, int runs = 3)
    {
        using var problem = new Problem(pattern, context, window, heads, headSize);
        problem.Once(); // warm-up
        var best = double.MaxValue;
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            problem.Once();
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>How far one forward + backward pass raises the process's resident high-water mark, in bytes.</summary>
    public static long PeakBytes(string pattern, int context, int window, int heads = 6, int headSize = HeadSize)
    {
        MemoryHighWater.UseFreshMappingsForLargeAllocations();
        using var problem = new Problem(pattern, context, window, heads, headSize);
        problem.Once(); // the gradients exist before the measured pass, as in training
        return MemoryHighWater.PeakBytesDuring(problem.Once);
    }

    /// <summary>Random q, k, v (1, heads, context, headSize) and one layer of the pattern. Strided and fixed use l = window
    /// (so every pattern's local part matches) and, for fixed, 8 summary columns.</summary>
    sealed class Problem : IDisposable
    {
        readonly TorchSharp.DisposeScope scope = NewDisposeScope();
        readonly Tensor q, k, v;
        readonly LayerPattern layer;

        public Problem(string pattern, int context, int window, int heads, int headSize)
        {
            manual_seed(0);
            q = randn(1, heads, context, headSize, requires_grad: true);
            k = randn(1, heads, context, headSize, requires_grad: true);
            v = randn(1, heads, context, headSize, requires_grad: true);
            var config = new GptConfig
            {
                Layers = 1, Heads = heads, Embedding = heads * headSize, ContextLength = context, Window = window, SparseStride = window,
                AttentionTypes = [AttentionLayout.Parse(pattern, "pattern")],
            }.Validate();
            layer = LayerPattern.For(config, 0);
        }

        public void Once()
        {
            using var step = NewDisposeScope();
            Attention.Causal(q, k, v, layer, 0).sum().backward();
            q.grad?.zero_(); k.grad?.zero_(); v.grad?.zero_();
        }

        public void Dispose() => scope.Dispose();
    }
}

/// <summary>KV-cache memory of a long generation: what the cache holds and how much the process grew while generating.</summary>
public sealed record CacheMemoryResult(string Layout, int Tokens, long CacheBytes, long PeakBytes, double Seconds);

public static class CacheMemoryBenchmark
{
    /// <summary>
    /// Generates <paramref name="tokens"/> tokens greedily with a small random model (4 layers, 4 heads x 64, context
    /// = tokens + 1) of the given layout, reporting the KV cache's bytes and the generation's peak memory.
    /// </summary>
    public static CacheMemoryResult Run(string layout, int tokens, int window)
    {
        MemoryHighWater.UseFreshMappingsForLargeAllocations();
        AttentionKind[] kinds = layout switch
        {
            "dense" => [AttentionKind.Dense, AttentionKind.Dense, AttentionKind.Dense, AttentionKind.Dense],
            "alternating" => [AttentionKind.Dense, AttentionKind.Local, AttentionKind.Dense, AttentionKind.Local],
            _ => throw new ArgumentException($"unknown layout '{layout}' (known: dense, alternating)"),
        };
        manual_seed(0);
        using var model = new Gpt(new GptConfig { VocabSize = 256, ContextLength = tokens + 1, Layers = 4, Heads = 4, Embedding = 256, AttentionTypes = kinds, Window = window });
        model.eval();
        long cacheBytes = 0;
        var watch = Stopwatch.StartNew();
        var peak = MemoryHighWater.PeakBytesDuring(() =>
        {
            using var _ = no_grad();
            using var cache = model.NewCache(1, tokens + 1);
            cacheBytes = cache.Bytes;
            var next = tensor(new long[] { 0 }).view(1, 1);
            for (var t = 0; t < tokens; t++)
            {
                using var scope = NewDisposeScope();
                var picked = model.Forward(next, cache, lastOnly: true)[0, 0].argmax().view(1, 1);
                next.copy_(picked);
            }
        });
        return new CacheMemoryResult(layout, tokens, cacheBytes, peak, watch.Elapsed.TotalSeconds);
    }
}
