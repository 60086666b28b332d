using static TorchSharp.torch;

namespace FewShot.Model.Generation;

/// <summary>
/// Rows of sequences being decoded with a KV cache: what <see cref="TextGenerator"/> and the server's batch scheduler
/// drive, one token per row per step. Logits come back as (rows, vocab) tensors for <see cref="TokenSampler"/>.
/// Not thread-safe: one decoding thread owns a session.
/// </summary>
public interface IDecodeSession : IDisposable
{
    int Batch { get; }
    long Length(int row);
    /// <summary>Sets a row's length, e.g. 0 to reuse the row for a new sequence.</summary>
    void SetLength(int row, long length);
    /// <summary>Copies row <paramref name="from"/>'s cached keys, values and length into row <paramref name="to"/>.</summary>
    void CopyRow(int from, int to);
    /// <summary>Appends prompts to rows [first, first + prompts.Count); returns the logits after each one's last token (prompts, vocab).</summary>
    Tensor Prefill(int first, IReadOnlyList<int[]> prompts);
    /// <summary>Feeds ids[r] to row r for r in [0, ids.Length); returns the next-token logits (rows, vocab).</summary>
    Tensor Step(ReadOnlySpan<long> ids);
}

/// <summary>A way to run a model's incremental forward pass: opens decoding sessions.</summary>
public interface IDecoder
{
    GptConfig Config { get; }
    /// <summary>What runs the model, for logs and benchmarks: "torch", "fused f32", "fused q8_0".</summary>
    string Name { get; }
    IDecodeSession Open(int batch, int capacity);
}

/// <summary>The model's own TorchSharp forward pass with its <see cref="KvCache"/>: follows the model's current weights and device.</summary>
public sealed class TorchDecoder(Gpt model) : IDecoder
{
    public GptConfig Config => model.Config;
    public string Name => "torch";
    public IDecodeSession Open(int batch, int capacity) => new Session(model, model.NewCache(batch, capacity));

    sealed class Session(Gpt model, KvCache cache) : IDecodeSession
    {
        readonly Device device = model.parameters().First().device;
        KvCache? view; // rows [0, view.Batch), kept while the batch size stays the same

        public int Batch => cache.Batch;
        public long Length(int row) => cache.Length(row);
        public void SetLength(int row, long length) => cache.SetLength(row, length);
        public void CopyRow(int from, int to) => cache.CopyRow(from, to);

        // Prompts of equal length go through in one batch; otherwise row by row (a local layer's ring must never hold padding).
        public Tensor Prefill(int first, IReadOnlyList<int[]> prompts)
        {
            Tensor Run(IReadOnlyList<int[]> rows, int start)
            {
                var ids = new long[rows.Count, rows[0].Length];
                for (var b = 0; b < rows.Count; b++)
                    for (var t = 0; t < rows[b].Length; t++) ids[b, t] = rows[b][t];
                using var target = cache.Rows(start, rows.Count);
                return model.Forward(tensor(ids, device: device), target, lastOnly: true)[.., -1]; // (rows, V)
            }
            if (prompts.All(p => p.Length == prompts[0].Length)) return Run(prompts, first);
            return cat(prompts.Select((p, b) => Run([p], first + b)).ToArray(), 0);
        }

        public Tensor Step(ReadOnlySpan<long> ids)
        {
            if (view is null || view.Batch != ids.Length)
            {
                view?.Dispose();
                view = cache.Rows(0, ids.Length);
            }
            var next = tensor(ids.ToArray(), device: device).view(ids.Length, 1);
            return model.Forward(next, view, lastOnly: true)[.., -1];
        }

        public void Dispose()
        {
            view?.Dispose();
            cache.Dispose();
        }
    }
}
