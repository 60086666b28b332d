using System.Runtime.InteropServices;
using FewShot.Model.Inference;
using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Model.Generation;

/// <summary>Picks next tokens from logits with temperature, top-k and top-p; greedy at temperature 0.</summary>
public static unsafe class TokenSampler
{
    /// <summary>
    /// logits (B, V) -> ids (B) as an array. Greedy picks from float logits on the CPU are read in place (the first
    /// largest, NaN counting as largest, as argmax does): one call into libtorch a token instead of four (argmax,
    /// cpu, data, copy), ~20 us that batch-1 decoding of a small model notices (~1% of a token).
    /// </summary>
    public static long[] SampleIds(Tensor logits, SamplingOptions options, Generator? generator)
    {
        if (options.Temperature != 0 || logits.device_type != DeviceType.CPU || logits.dtype != ScalarType.Float32 || logits.dim() != 2 || !logits.is_contiguous())
            return Sample(logits, options, generator).cpu().data<long>().ToArray();
        var (rows, vocab) = ((int)logits.shape[0], (int)logits.shape[1]);
        var ids = new long[rows];
        fixed (float* values = MemoryMarshal.Cast<byte, float>(logits.bytes)) // the tensor's own memory
            for (var r = 0; r < rows; r++) ids[r] = Kernels.ArgMax(values + (long)r * vocab, vocab);
        return ids;
    }

    /// <summary>logits (B, V) -> ids (B).</summary>
    public static Tensor Sample(Tensor logits, SamplingOptions options, Generator? generator)
    {
        if (options.Temperature == 0) return logits.argmax(-1);

        logits = logits / options.Temperature;
        if (options.TopK > 0 && options.TopK < logits.shape[^1])
        {
            var kth = logits.topk(options.TopK).values[.., ^1..]; // (B, 1): the K-th largest logit
            logits = logits.masked_fill(logits < kth, double.NegativeInfinity);
        }
        if (options.TopP < 1)
        {
            var (sorted, order) = logits.sort(-1, descending: true);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            // Remove a token when the tokens before it already reach P (the most likely one always stays).
            var remove = (cumulative - sorted.softmax(-1)) >= options.TopP;
            logits = logits.scatter(-1, order, sorted.masked_fill(remove, double.NegativeInfinity));
        }
        return multinomial(logits.softmax(-1), 1, generator: generator).squeeze(-1);
    }
}
