namespace FewShot.Model.Inference;

/// <summary>
/// Keys and values for the fused decoder: per layer one buffer (batch, heads, slots, hs). A layer that keeps every
/// position (dense, strided, fixed) has slots = capacity, position p in slot p. A local layer keeps a ring of
/// window + <see cref="FusedDecoder.Chunk"/> - 1 slots (position p in slot p mod slots): one forward call writes up to
/// a chunk of a row's tokens before it attends, and the earliest of them still needs the window behind it. So a
/// local layer's memory stays bounded however long the generation runs.
/// </summary>
public sealed unsafe class DecodeCache : IDisposable
{
    readonly AlignedBuffer<float>[] keys, values;
    readonly long[] lengths;

    public int Batch { get; }
    public int Capacity { get; }
    public int Heads { get; }
    public int HeadSize { get; }
    /// <summary>Slots per row of each layer.</summary>
    public int[] Slots { get; }

    public DecodeCache(GptConfig config, int batch, int capacity)
    {
        Batch = batch;
        Capacity = Math.Min(capacity, config.ContextLength);
        Heads = config.Heads;
        HeadSize = config.HeadSize;
        lengths = new long[batch];
        Slots = new int[config.Layers];
        keys = new AlignedBuffer<float>[config.Layers];
        values = new AlignedBuffer<float>[config.Layers];
        for (var i = 0; i < config.Layers; i++)
        {
            Slots[i] = config.KindOfLayer(i) == AttentionKind.Local ? Math.Min(Capacity, config.Window + FusedDecoder.Chunk - 1) : Capacity;
            keys[i] = new AlignedBuffer<float>((long)batch * Heads * Slots[i] * HeadSize);
            values[i] = new AlignedBuffer<float>((long)batch * Heads * Slots[i] * HeadSize);
        }
    }

    public long Length(int row) => lengths[row];

    public void SetLength(int row, long length)
    {
        if (length < 0 || length > Capacity) throw new ArgumentOutOfRangeException(nameof(length));
        lengths[row] = length;
    }

    internal void Advance(int row, int count) => lengths[row] += count;

    /// <summary>Bytes held by the keys and values of all layers.</summary>
    public long Bytes => keys.Concat(values).Sum(b => b.Bytes);

    /// <summary>The hs floats of the key (or value) of position p of a row and head in a layer.</summary>
    public float* Key(int layer, int row, int head, long position) => keys[layer].Pointer + Offset(layer, row, head, position);
    public float* Value(int layer, int row, int head, long position) => values[layer].Pointer + Offset(layer, row, head, position);

    long Offset(int layer, int row, int head, long position) =>
        (((long)row * Heads + head) * Slots[layer] + position % Slots[layer]) * HeadSize;

    /// <summary>Copies row <paramref name="from"/>'s keys, values and length into row <paramref name="to"/>.</summary>
    public void CopyRow(int from, int to)
    {
        for (var layer = 0; layer < keys.Length; layer++)
        {
            var size = (long)Heads * Slots[layer] * HeadSize;
            foreach (var buffer in new[] { keys[layer], values[layer] })
                Buffer.MemoryCopy(buffer.Pointer + from * size, buffer.Pointer + to * size, size * 4, size * 4);
        }
        lengths[to] = lengths[from];
    }

    public void Dispose()
    {
        foreach (var b in keys.Concat(values)) b.Dispose();
    }
}
