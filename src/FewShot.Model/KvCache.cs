using static TorchSharp.torch;

namespace FewShot.Model;

/// <summary>
/// Keys and values of every layer for a batch of sequences, so that decoding never recomputes the prefix.
/// Storage per layer is (B, nh, capacity, hs); row b's token at position p lives in slot p, and rows may have
/// different lengths (a ragged prefill, or continuous batching in the server). Attention reads slots
/// [0, max length) through views, with a mask where the rows' lengths differ.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor[] keys, values;
    readonly long[] lengths;
    readonly Device device;
    readonly int offset; // first row of the parent cache that this view covers

    public int Batch { get; }
    public int Capacity { get; }

    internal KvCache(GptConfig config, int batch, int capacity, Device device, ScalarType dtype)
    {
        Batch = batch;
        Capacity = capacity;
        this.device = device;
        lengths = new long[batch];
        long[] shape = [batch, config.Heads, capacity, config.HeadSize];
        keys = new Tensor[config.Layers];
        values = new Tensor[config.Layers];
        for (var i = 0; i < config.Layers; i++)
        {
            keys[i] = zeros(shape, dtype, device).DetachFromDisposeScope();
            values[i] = zeros(shape, dtype, device).DetachFromDisposeScope();
        }
    }

    KvCache(KvCache parent, int start, int count)
    {
        Batch = count;
        Capacity = parent.Capacity;
        device = parent.device;
        lengths = parent.lengths;
        offset = parent.offset + start;
        keys = parent.keys.Select(k => k.narrow(0, start, count).DetachFromDisposeScope()).ToArray();
        values = parent.values.Select(v => v.narrow(0, start, count).DetachFromDisposeScope()).ToArray();
    }

    /// <summary>A view of rows [start, start + count) that shares storage and lengths with this cache. Dispose it when done (it holds tensor handles).</summary>
    public KvCache Rows(int start, int count) => new(this, start, count);

    public long Length(int row) => lengths[offset + row];

    /// <summary>Sets a row's length, e.g. after a right-padded prefill or to restart a row (0).</summary>
    public void SetLength(int row, long length)
    {
        if (length < 0 || length > Capacity) throw new ArgumentOutOfRangeException(nameof(length));
        lengths[offset + row] = length;
    }

    /// <summary>Copies row <paramref name="from"/>'s keys, values and length into row <paramref name="to"/>.</summary>
    public void CopyRow(int from, int to)
    {
        using var _ = no_grad();
        var length = Length(from);
        foreach (var storage in keys.Concat(values))
            if (length > 0) storage[to, .., ..(int)length].copy_(storage[from, .., ..(int)length]);
        SetLength(to, length);
    }

    long MinLength() { long m = long.MaxValue; for (var b = 0; b < Batch; b++) m = Math.Min(m, Length(b)); return m; }
    long MaxLength() { long m = 0; for (var b = 0; b < Batch; b++) m = Math.Max(m, Length(b)); return m; }

    /// <summary>Absolute positions (B, T) of the next T tokens of each row.</summary>
    internal Tensor Positions(long T)
    {
        if (MaxLength() + T > Capacity)
            throw new InvalidOperationException($"the KV cache holds {Capacity} positions; {MaxLength()} + {T} do not fit");
        var starts = tensor(lengths.AsSpan(offset, Batch).ToArray(), device: device).unsqueeze(1); // (B, 1)
        return starts + arange(T, device: device).unsqueeze(0);
    }

    /// <summary>Writes k, v (B, nh, T, hs) at each row's next positions; returns views over slots [0, max length + T).</summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        var T = k.shape[2];
        var (min, max) = (MinLength(), MaxLength());
        using (no_grad())
        {
            if (min == max)
            {
                keys[layer].narrow(2, min, T).copy_(k);
                values[layer].narrow(2, min, T).copy_(v);
            }
            else
            {
                // Ragged rows: scatter each row's block to its own positions.
                var index = Positions(T).view(Batch, 1, T, 1).expand(k.shape);
                keys[layer].scatter_(2, index, k);
                values[layer].scatter_(2, index, v);
            }
        }
        return (keys[layer].narrow(2, 0, max + T), values[layer].narrow(2, 0, max + T));
    }

    /// <summary>
    /// The bool mask (B, 1, T, S) for the next T queries over S = max length + T cached slots, or null when every key
    /// in view is visible to every query (equal lengths, one query, dense layer).
    /// </summary>
    internal Tensor? MaskFor(AttentionKind kind, int window, long T)
    {
        var (min, max) = (MinLength(), MaxLength());
        if (min == max && T == 1 && (kind == AttentionKind.Dense || max + 1 <= window)) return null;
        var queryPositions = Positions(T).unsqueeze(2);                               // (B, T, 1)
        var keyPositions = arange(max + T, device: device).view(1, 1, -1);          // (1, 1, S)
        var mask = keyPositions <= queryPositions;
        if (kind == AttentionKind.Local) mask = mask.logical_and(keyPositions > queryPositions - window);
        return mask.unsqueeze(1);
    }

    /// <summary>Moves every row forward by T positions (called by the model after a forward pass).</summary>
    internal void Advance(long T)
    {
        for (var b = 0; b < Batch; b++) lengths[offset + b] += T;
    }

    public void Dispose()
    {
        foreach (var t in keys.Concat(values)) t.Dispose();
    }
}
