using FewShot.Model.Generation;
using static TorchSharp.torch;

namespace FewShot.Model.Inference;

/// <summary>
/// <see cref="IDecoder"/> over the <see cref="FusedDecoder"/>: a snapshot of the model's weights (F32 or Q8_0),
/// decoded on the CPU outside libtorch. Sessions share the decoder's activation buffers: one thread decodes at a time
/// (the server's scheduler thread owns its decoder); a second thread stepping concurrently gets an
/// <see cref="InvalidOperationException"/> (see <see cref="FusedDecoder"/>), never wrong logits.
/// </summary>
/// <remarks>
/// The snapshot is a second copy of the weights beside the model's TorchSharp tensors (1x more memory for F32, about
/// 0.27x for Q8_0). The server keeps the TorchSharp copy: it scores prompts (echo with logprobs) through it.
/// </remarks>
public sealed class FusedDecoding : IDecoder, IDisposable
{
    readonly FusedDecoder decoder;

    public FusedDecoding(DecodeWeights weights, int threads) => decoder = new FusedDecoder(weights, threads);

    /// <summary>Snapshots the model's weights in the given format; threads 0 means one per core.</summary>
    public static FusedDecoding From(Gpt model, WeightFormat format = WeightFormat.F32, int threads = 0)
    {
        threads = threads > 0 ? threads : Environment.ProcessorCount;
        return new(DecodeWeights.From(model, format, streams: threads), threads);
    }

    public GptConfig Config => decoder.Config;
    public string Name => $"fused {WeightFormats.Name(decoder.Weights.Format)}";
    public FusedDecoder Decoder => decoder;

    public IDecodeSession Open(int batch, int capacity) => new Session(decoder, decoder.NewCache(batch, capacity));

    public void Dispose()
    {
        decoder.Dispose();
        decoder.Weights.Dispose();
    }

    sealed class Session(FusedDecoder decoder, DecodeCache cache) : IDecodeSession
    {
        readonly int vocab = decoder.Config.VocabSize;

        public int Batch => cache.Batch;
        public long Length(int row) => cache.Length(row);
        public void SetLength(int row, long length) => cache.SetLength(row, length);
        public void CopyRow(int from, int to) => cache.CopyRow(from, to);

        public Tensor Prefill(int first, IReadOnlyList<int[]> prompts)
        {
            var logits = new float[(long)prompts.Count * vocab];
            for (var b = 0; b < prompts.Count; b++) decoder.Prefill(cache, first + b, prompts[b]).CopyTo(logits, (long)b * vocab);
            return tensor(logits, [prompts.Count, vocab]);
        }

        public Tensor Step(ReadOnlySpan<long> ids)
        {
            var tokens = new int[ids.Length];
            for (var r = 0; r < ids.Length; r++) tokens[r] = checked((int)ids[r]);
            return tensor(decoder.Step(cache, tokens), [ids.Length, vocab]);
        }

        public void Dispose() => cache.Dispose();
    }
}
