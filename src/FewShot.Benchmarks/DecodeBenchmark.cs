using FewShot.Model;
using System.Diagnostics;
using FewShot.Model.Generation;
using FewShot.Model.Inference;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;

namespace FewShot.Benchmarks;

/// <summary>
/// Batch-1 decoding through <see cref="TextGenerator"/>: the fused decoder (the product path) and the TorchSharp
/// forward pass back to back on the same weights, against the bound of the weight bytes per token over the streaming
/// bandwidth measured in the same run.
/// </summary>
public sealed record DecodeResult(
    long Parameters, string Weights, int Tokens, double Seconds, double TokensPerSecond, double? TorchTokensPerSecond,
    double WeightBytesPerToken, double StreamBytesPerSecond, double MatvecBytesPerSecond, double BoundTokensPerSecond,
    long ResidentBytesAfterWarmup, long ResidentBytesAfter)
{
    public double FractionOfBound => TokensPerSecond / BoundTokensPerSecond;
}

public static class DecodeBenchmark
{
    /// <summary>
    /// Generates <paramref name="tokens"/> tokens greedily from a one-token prompt with a random model of this config
    /// (in runs of at most the context length), after a warm-up run; the TorchSharp path generates
    /// <paramref name="torchTokens"/> (0: skip it). <paramref name="model"/> receives the model so that a peer can run
    /// the same weights.
    /// </summary>
    public static DecodeResult Run(GptConfig config, int tokens, WeightFormat format, int threads, int torchTokens,
        IProgress<int>? progress = null, Action<Gpt>? model = null)
    {
        manual_seed(0);
        using var gpt = new Gpt(config);
        gpt.eval();
        model?.Invoke(gpt);
        var tokenizer = new IdTokenizer(config.VocabSize, -1);
        using var fused = FusedDecoding.From(gpt, format, threads);
        var residentAfterWarmup = 0L;
        var (generated, seconds) = Measure(new TextGenerator(gpt, tokenizer, fused), config, tokens, progress, () => residentAfterWarmup = ReferenceRates.ResidentBytes());
        var residentAfter = ReferenceRates.ResidentBytes();
        double? torchRate = null;
        if (torchTokens > 0)
        {
            var (n, s) = Measure(new TextGenerator(gpt, tokenizer), config, torchTokens, null, null);
            torchRate = n / s;
        }

        var bytesPerToken = (double)fused.Decoder.Weights.BytesPerToken;
        var stream = StreamBandwidth.BytesPerSecond(threads);
        var info = ModelInfo.Of(config);
        var matvec = ReferenceRates.MatvecBytesPerSecond((long)(4.0 * (info.Parameters - info.PositionParameters)), config.Embedding);
        return new DecodeResult(info.Parameters, WeightFormats.Name(format), generated, seconds, generated / seconds, torchRate,
            bytesPerToken, stream, matvec, stream / bytesPerToken, residentAfterWarmup, residentAfter);
    }

    static (int Tokens, double Seconds) Measure(TextGenerator generator, GptConfig config, int tokens, IProgress<int>? progress, Action? afterWarmup)
    {
        var perRun = Math.Min(tokens, config.ContextLength - 1);
        var options = new SamplingOptions { MaxNewTokens = perRun, Temperature = 0, StopAtEndOfText = false };
        // Warm up (JIT tiers, allocator pools) so that the memory reading afterwards shows only growth.
        for (var i = 0; i < 2; i++) generator.Generate([[i]], options with { MaxNewTokens = Math.Min(perRun, 64) });
        afterWarmup?.Invoke();
        var watch = Stopwatch.StartNew();
        var generated = 0;
        while (generated < tokens)
        {
            var run = Math.Min(perRun, tokens - generated);
            generated += generator.Generate([[generated % config.VocabSize]], options with { MaxNewTokens = run })[0].Ids.Length;
            progress?.Report(generated);
        }
        return (generated, watch.Elapsed.TotalSeconds);
    }
}
