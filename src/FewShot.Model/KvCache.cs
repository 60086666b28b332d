using static TorchSharp.torch;

namespace FewShot.Model;

/// <summary>
/// Keys and values of every layer for a batch of sequences, so that decoding never recomputes the prefix.
/// A dense layer keeps every position: (B, nh, capacity, hs), position p in slot p. A local layer keeps only its
/// window: (B, nh, window, hs) used as a ring, position p in slot p mod window; so the memory of long generations is
/// bounded by the dense layers. Rows may have different lengths while decoding one token at a time (continuous
/// batching); a prefill of several tokens needs rows of equal length (prefill ragged prompts row by row via <see cref="Rows"/>).
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor[] keys, values;
    readonly LayerPattern[] patterns;
    readonly long[] lengths;
    readonly Device device;
    readonly int offset; // first row of the parent cache that this view covers

    public int Batch { get; }
    public int Capacity { get; }
    public int Window { get; }

    internal KvCache(GptConfig config, int batch, int capacity, Device device, ScalarType dtype)
    {
        Batch = batch;
        Capacity = capacity;
        Window = config.Window;
        this.device = device;
        lengths = new long[batch];
        patterns = Enumerable.Range(0, config.Layers).Select(i => LayerPattern.For(config, i)).ToArray();
        keys = new Tensor[config.Layers];
        values = new Tensor[config.Layers];
        for (var i = 0; i < config.Layers; i++)
        {
            var slots = patterns[i].Kind == AttentionKind.Local ? Math.Min(capacity, config.Window) : capacity;
            long[] shape = [batch, config.Heads, slots, config.HeadSize];
            keys[i] = zeros(shape, dtype, device).DetachFromDisposeScope();
            values[i] = zeros(shape, dtype, device).DetachFromDisposeScope();
        }
    }

    KvCache(KvCache parent, int start, int count)
    {
        Batch = count;
        Capacity = parent.Capacity;
        Window = parent.Window;
        device = parent.device;
        patterns = parent.patterns;
        lengths = parent.lengths;
        offset = parent.offset + start;
        keys = parent.keys.Select(k => k.narrow(0, start, count).DetachFromDisposeScope()).ToArray();
        values = parent.values.Select(v => v.narrow(0, start, count).DetachFromDisposeScope()).ToArray();
    }

    /// <summary>A view of rows [start, start + count) that shares storage and lengths with this cache. Dispose it when done (it holds tensor handles).</summary>
    public KvCache Rows(int start, int count) => new(this, start, count);

    public long Length(int row) => lengths[offset + row];

    /// <summary>Sets a row's length, e.g. 0 to reuse the row for a new sequence.</summary>
    public void SetLength(int row, long length)
    {
        if (length < 0 || length > Capacity) throw new ArgumentOutOfRangeException(nameof(length));
        lengths[offset + row] = length;
    }

    /// <summary>Bytes held by the keys and values of all layers.</summary>
    public long Bytes => keys.Concat(values).Sum(t => t.NumberOfElements * t.ElementSize);

    /// <summary>Copies row <paramref name="from"/>'s keys, values and length into row <paramref name="to"/>.</summary>
    public void CopyRow(int from, int to)
    {
        using var _ = no_grad();
        foreach (var storage in keys.Concat(values)) storage[to].copy_(storage[from]);
        SetLength(to, Length(from));
    }

    long MinLength() { var m = long.MaxValue; for (var b = 0; b < Batch; b++) m = Math.Min(m, Length(b)); return m; }
    long MaxLength() { long m = 0; for (var b = 0; b < Batch; b++) m = Math.Max(m, Length(b)); return m; }

    /// <summary>Absolute positions (B, T) of the next T tokens of each row.</summary>
    internal Tensor Positions(long T)
    {
        if (MaxLength() + T > Capacity)
            throw new InvalidOperationException($"the KV cache holds {Capacity} positions; {MaxLength()} + {T} do not fit");
        if (T > 1 && MinLength() != MaxLength())
            throw new InvalidOperationException("a multi-token step needs rows of equal length; prefill ragged prompts row by row");
        var starts = tensor(lengths.AsSpan(offset, Batch).ToArray(), device: device).unsqueeze(1); // (B, 1)
        return starts + arange(T, device: device).unsqueeze(0);
    }

    /// <summary>
    /// Attention of layer <paramref name="layer"/> for the next T tokens: q, k, v (B, nh, T, hs) -> (B, nh, T, hs).
    /// Stores k and v, then attends over everything the layer may see.
    /// </summary>
    internal Tensor Attend(int layer, Tensor q, Tensor k, Tensor v, double dropout)
    {
        using var _ = no_grad();
        return patterns[layer].Kind == AttentionKind.Local ? AttendLocal(layer, q, k, v, dropout) : AttendAll(layer, q, k, v, dropout);
    }

    // Layers that keep every position: dense, strided and fixed.
    Tensor AttendAll(int layer, Tensor q, Tensor k, Tensor v, double dropout)
    {
        var T = k.shape[2];
        var pattern = patterns[layer];
        var (min, max) = (MinLength(), MaxLength());
        if (min == max)
        {
            keys[layer].narrow(2, min, T).copy_(k);
            values[layer].narrow(2, min, T).copy_(v);
        }
        else
        {
            // Ragged rows (T == 1): write each row's key at its own position.
            var index = Positions(T).view(Batch, 1, T, 1).expand(k.shape);
            keys[layer].scatter_(2, index, k);
            values[layer].scatter_(2, index, v);
        }
        if (min == 0 && min == max) return Attention.Causal(q, k, v, pattern, dropout); // a prefill from empty
        var seen = max + T;
        var (allKeys, allValues) = (keys[layer].narrow(2, 0, seen), values[layer].narrow(2, 0, seen));
        if (pattern.IsDense && min == max && T == 1)
            return Attention.Scaled(q, allKeys, allValues, null, dropout, causal: false); // one query sees every cached key
        // Otherwise mask by position: (B, nh, T, S), true where query may see key.
        return Attention.Scaled(q, allKeys, allValues, pattern.Mask(Positions(T), arange(seen, device: device)), dropout, causal: false);
    }

    Tensor AttendLocal(int layer, Tensor q, Tensor k, Tensor v, double dropout)
    {
        var T = k.shape[2];
        var ring = keys[layer].shape[2];
        var (min, max) = (MinLength(), MaxLength());
        Tensor y;
        if (T == 1)
        {
            Write(layer, k, v, T);
            if (min == max)
            {
                // The ring holds exactly the positions this query may see, in some rotation: softmax does not care.
                var filled = Math.Min(min + 1, ring);
                y = Attention.Scaled(q, keys[layer].narrow(2, 0, filled), values[layer].narrow(2, 0, filled), null, dropout, causal: false);
            }
            else
            {
                var slots = arange(ring, device: device).view(1, 1, 1, -1);
                var filled = tensor(lengths.AsSpan(offset, Batch).ToArray(), device: device).view(Batch, 1, 1, 1) + 1;
                y = Attention.Scaled(q, keys[layer], values[layer], slots < filled, dropout, causal: false);
            }
            return y;
        }

        if (min == 0)
        {
            y = Attention.Causal(q, k, v, patterns[layer], dropout);
        }
        else
        {
            // A continued prefill: the ring's earlier positions plus the new block, masked by position.
            var ringPositions = RingPositions(min, ring);                              // (ring), -1 where empty
            var newPositions = arange(min, min + T, device: device);                   // (T)
            var keyPositions = cat([ringPositions, newPositions]).view(1, -1);        // (1, ring + T)
            var queryPositions = newPositions.view(-1, 1);                             // (T, 1)
            var mask = (keyPositions <= queryPositions).logical_and(keyPositions > queryPositions - Window).logical_and(keyPositions >= 0);
            y = Attention.Scaled(q, cat([keys[layer], k], 2), cat([values[layer], v], 2), mask, dropout, causal: false);
        }
        Write(layer, k, v, T);
        return y;
    }

    // Stores the last min(T, ring) of the new keys and values at slots position mod ring.
    void Write(int layer, Tensor k, Tensor v, long T)
    {
        var ring = keys[layer].shape[2];
        var kept = Math.Min(T, ring);
        var positions = Positions(T).narrow(1, T - kept, kept);                        // (B, kept)
        var index = (positions % ring).view(Batch, 1, kept, 1).expand(Batch, k.shape[1], kept, k.shape[3]);
        keys[layer].scatter_(2, index, k.narrow(2, T - kept, kept));
        values[layer].scatter_(2, index, v.narrow(2, T - kept, kept));
    }

    // The position held by each ring slot when a row has `length` tokens: the latest p < length with p = slot mod ring.
    Tensor RingPositions(long length, long ring)
    {
        var slot = arange(ring, device: device);
        var position = (length - 1) - ((length - 1 - slot) % ring + ring) % ring;
        return position.masked_fill(position < 0, -1);
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
