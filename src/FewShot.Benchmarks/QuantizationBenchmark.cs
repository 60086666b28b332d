using FewShot.Model;
using FewShot.Model.Inference;

namespace FewShot.Benchmarks;

/// <summary>Perplexity of one weight format on held-out tokens, through the fused decoder.</summary>
public sealed record FormatQuality(string Weights, long WeightBytesPerToken, int Tokens, double MeanNll)
{
    public double Perplexity => Math.Exp(MeanNll);
}

/// <summary>
/// The quality that 8-bit weights cost: the same held-out tokens scored with F32 and with Q8_0 weights. The tokens are
/// cut into windows of the context length; every window is read from an empty cache, and each of its tokens after
/// the first is predicted from the ones before it (windows decode side by side as rows of one batch).
/// </summary>
public static class QuantizationBenchmark
{
    public static FormatQuality Score(Gpt model, IReadOnlyList<int> tokens, WeightFormat format, int threads)
    {
        var window = model.Config.ContextLength;
        var windows = tokens.Count / window;
        if (windows == 0) throw new ArgumentException($"the held-out text has {tokens.Count} tokens, fewer than one context ({window})");
        using var fused = FusedDecoding.From(model, format, threads);
        var decoder = fused.Decoder;
        var vocab = model.Config.VocabSize;
        double nll = 0;
        var scored = 0;
        for (var first = 0; first < windows; first += FusedDecoder.Chunk)
        {
            var rows = Math.Min(FusedDecoder.Chunk, windows - first);
            using var cache = decoder.NewCache(rows, window);
            var step = new int[rows];
            for (var t = 0; t < window - 1; t++)
            {
                for (var r = 0; r < rows; r++) step[r] = tokens[(first + r) * window + t];
                var logits = decoder.Step(cache, step);
                for (var r = 0; r < rows; r++)
                {
                    var target = tokens[(first + r) * window + t + 1];
                    nll -= LogSoftmax(logits.AsSpan(r * vocab, vocab), target);
                    scored++;
                }
            }
        }
        return new FormatQuality(WeightFormats.Name(format), decoder.Weights.BytesPerToken, scored, nll / scored);
    }

    static double LogSoftmax(ReadOnlySpan<float> logits, int target)
    {
        var max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        return logits[target] - max - Math.Log(sum);
    }
}
