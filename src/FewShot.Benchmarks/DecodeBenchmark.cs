using FewShot.Model;
using System.Diagnostics;
using FewShot.Model.Generation;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;

namespace FewShot.Benchmarks;

/// <summary>Batch-1 decoding through <see cref="TextGenerator"/> against the weight-streaming bound measured in the same run.</summary>
public sealed record DecodeResult(
    long Parameters, int Tokens, double Seconds, double TokensPerSecond,
    double WeightBytesPerToken, double MatvecBytesPerSecond, double BoundTokensPerSecond,
    long ResidentBytesAfterWarmup, long ResidentBytesAfter)
{
    public double FractionOfBound => TokensPerSecond / BoundTokensPerSecond;
}

public static class DecodeBenchmark
{
    /// <summary>
    /// Generates <paramref name="tokens"/> tokens greedily from a one-token prompt with a random model of this config
    /// (in runs of at most the context length), after a warm-up run. The bound is weight bytes read per token
    /// (every parameter but the position table, of which one row is read) over the matrix-vector bandwidth.
    /// </summary>
    public static DecodeResult Run(GptConfig config, int tokens, IProgress<int>? progress = null)
    {
        manual_seed(0);
        using var model = new Gpt(config);
        var generator = new TextGenerator(model, new IdTokenizer(config.VocabSize, -1));
        var perRun = Math.Min(tokens, config.ContextLength - 1);
        var options = new SamplingOptions { MaxNewTokens = perRun, Temperature = 0, StopAtEndOfText = false };

        // Warm up at full length (JIT tiers, allocator pools) so that the memory reading afterwards shows only growth.
        for (var i = 0; i < 3; i++) generator.Generate([[i]], options);
        var residentAfterWarmup = ReferenceRates.ResidentBytes();

        var watch = Stopwatch.StartNew();
        var generated = 0;
        while (generated < tokens)
        {
            var run = Math.Min(perRun, tokens - generated);
            generated += generator.Generate([[generated % config.VocabSize]], options with { MaxNewTokens = run })[0].Ids.Length;
            progress?.Report(generated);
        }
        var seconds = watch.Elapsed.TotalSeconds;
        var residentAfter = ReferenceRates.ResidentBytes();

        var info = ModelInfo.Of(config);
        var bytesPerToken = 4.0 * (info.Parameters - info.PositionParameters + config.Embedding);
        var bandwidth = ReferenceRates.MatvecBytesPerSecond((long)bytesPerToken, config.Embedding);
        return new DecodeResult(info.Parameters, generated, seconds, generated / seconds, bytesPerToken, bandwidth,
            bandwidth / bytesPerToken, residentAfterWarmup, residentAfter);
    }
}
