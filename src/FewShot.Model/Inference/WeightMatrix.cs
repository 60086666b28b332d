using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FewShot.Model.Inference;

/// <summary>How the fused decoder stores its matrices.</summary>
public enum WeightFormat
{
    /// <summary>32-bit floats, as trained.</summary>
    F32,
    /// <summary>
    /// 8-bit integers in blocks of 32 along each row, one scale per block (rounded to a 16-bit float, as llama.cpp's
    /// Q8_0 stores it): 8.5 bits a weight instead of 32.
    /// </summary>
    Q8_0,
}

public static class WeightFormats
{
    public static string Name(WeightFormat f) => f switch { WeightFormat.F32 => "f32", WeightFormat.Q8_0 => "q8_0", _ => f.ToString() };

    /// <summary>Parses "f32" or "q8_0"; null for anything else.</summary>
    public static WeightFormat? Parse(string? name) => name?.ToLowerInvariant() switch
    {
        "f32" or "fp32" or "float32" => WeightFormat.F32,
        "q8_0" => WeightFormat.Q8_0,
        _ => null,
    };
}

/// <summary>Memory from the native heap aligned to 64 bytes (one cache line, one 512-bit load), freed on dispose.</summary>
public sealed unsafe class AlignedBuffer<T> : IDisposable where T : unmanaged
{
    public T* Pointer { get; private set; }
    public long Length { get; }

    public AlignedBuffer(long length)
    {
        Length = length;
        Pointer = (T*)NativeMemory.AlignedAlloc((nuint)(Math.Max(1, length) * sizeof(T)), 64);
        NativeMemory.Clear(Pointer, (nuint)(length * sizeof(T)));
    }

    public AlignedBuffer(ReadOnlySpan<T> values) : this(values.Length) => values.CopyTo(new Span<T>(Pointer, values.Length));

    public long Bytes => Length * sizeof(T);

    public void Dispose()
    {
        if (Pointer == null) return;
        NativeMemory.AlignedFree(Pointer);
        Pointer = null;
    }
}

/// <summary>A weight matrix [Out, In] (nn.Linear's layout) that multiplies a few vectors at once.</summary>
public abstract unsafe class WeightMatrix : IDisposable
{
    public int Out { get; }
    public int In { get; }
    public abstract WeightFormat Format { get; }
    /// <summary>Bytes read by one pass over the matrix.</summary>
    public abstract long Bytes { get; }

    protected WeightMatrix(int rows, int columns) { Out = rows; In = columns; }

    /// <summary>
    /// True when <see cref="Multiply"/> reads its input quantised (Q8_0 reads 8-bit blocks): the caller quantises the
    /// input once into a <see cref="QuantizedInput"/> before it splits the product over threads.
    /// </summary>
    public virtual bool ReadsQuantizedInput => false;

    /// <summary>
    /// y[t, o] (+)= bias[o] + W[o, :] . x[t, :] for o in [first, end), t in [0, count); first a multiple of 16.
    /// x (count, In) as floats, and in <paramref name="quantized"/> as 8-bit blocks when <see cref="ReadsQuantizedInput"/>.
    /// </summary>
    public abstract void Multiply(float* x, QuantizedInput? quantized, int count, float* y, int yStride, float* bias, bool accumulate, int first, int end);

    /// <summary>Row o as floats (an embedding lookup from the tied matrix).</summary>
    public abstract void Row(int o, float* destination);

    /// <summary>Stores the values (row-major [rows, columns]) in this format; Q8_0 needs columns divisible by 32.</summary>
    public static WeightMatrix Create(ReadOnlySpan<float> values, int rows, int columns, WeightFormat format) =>
        format == WeightFormat.Q8_0 && columns % Kernels.Q8Block == 0
            ? new Q8Matrix(values, rows, columns)
            : new F32Matrix(values, rows, columns);

    public abstract void Dispose();
}

/// <summary>
/// 32-bit floats in <see cref="PanelKernels"/>' panels (groups of 32 rows stored column by column). The rows live in
/// one buffer of their own, or in a <see cref="WeightArena"/> in pieces (segments of consecutive rows, each in panels
/// of its own) laid out for the threads that read them.
/// </summary>
public sealed unsafe class F32Matrix : WeightMatrix
{
    readonly AlignedBuffer<float>? owned; // null when an arena holds the rows
    // Segment s holds rows [starts[s], starts[s + 1]) at pieces[s], in panels counted from its first row.
    readonly nint[] pieces;
    readonly int[] starts;

    public F32Matrix(ReadOnlySpan<float> values, int rows, int columns) : base(rows, columns)
    {
        owned = new AlignedBuffer<float>(checked(rows * columns));
        PanelKernels.Pack(values[..(rows * columns)], rows, columns, owned.Pointer);
        (pieces, starts) = ([(nint)owned.Pointer], [0, rows]);
    }

    /// <summary>Rows in an arena: segment s (rows starts[s]..starts[s + 1]) is packed at pieces[s].</summary>
    internal F32Matrix(int rows, int columns, float*[] pieces, int[] starts) : base(rows, columns)
    {
        this.starts = starts;
        this.pieces = new nint[pieces.Length];
        for (var s = 0; s < pieces.Length; s++) this.pieces[s] = (nint)pieces[s];
    }

    public override WeightFormat Format => WeightFormat.F32;
    public override long Bytes => (long)Out * In * sizeof(float);

    public override void Multiply(float* x, QuantizedInput? quantized, int count, float* y, int yStride, float* bias, bool accumulate, int first, int end)
    {
        const int G = PanelKernels.GroupRows;
        var part = stackalloc float[PanelKernels.InputBlock * G]; // a group cut by [first, end): all its rows, then the wanted ones
        for (var s = 0; s < pieces.Length; s++)
        {
            var (segment, segmentEnd) = (starts[s], starts[s + 1]);
            var (from, to) = (Math.Max(first, segment), Math.Min(end, segmentEnd));
            for (var group = segment + (from - segment) / G * G; group < to; group += G)
            {
                var width = Math.Min(G, segmentEnd - group);
                var panel = (float*)pieces[s] + (long)(group - segment) * In;
                var whole = group >= from && group + width <= to;
                for (var t0 = 0; t0 < count; t0 += PanelKernels.InputBlock)
                {
                    var n = Math.Min(PanelKernels.InputBlock, count - t0);
                    if (whole)
                    {
                        PanelKernels.Multiply(panel, width, In, x + (long)t0 * In, n, y + (long)t0 * yStride + group, yStride,
                            bias == null ? null : bias + group, accumulate);
                        continue;
                    }
                    PanelKernels.Multiply(panel, width, In, x + (long)t0 * In, n, part, G, null, false);
                    for (var t = 0; t < n; t++)
                        for (var o = Math.Max(from, group); o < Math.Min(to, group + width); o++)
                        {
                            var value = bias == null ? part[t * G + o - group] : part[t * G + o - group] + bias[o];
                            var at = y + (long)(t0 + t) * yStride + o;
                            *at = accumulate ? *at + value : value;
                        }
                }
            }
        }
    }

    public override void Row(int o, float* destination)
    {
        var s = 0;
        while (o >= starts[s + 1]) s++;
        var group = starts[s] + (o - starts[s]) / PanelKernels.GroupRows * PanelKernels.GroupRows;
        var width = Math.Min(PanelKernels.GroupRows, starts[s + 1] - group);
        var panel = (float*)pieces[s] + (long)(group - starts[s]) * In;
        for (var i = 0; i < In; i++) destination[i] = panel[(long)i * width + o - group];
    }

    public override void Dispose() => owned?.Dispose();
}

/// <summary>
/// Q8_0: per block of 32 weights of a row, scale = max |w| / 127 (as a 16-bit float) and q = round(w / scale); stored
/// in <see cref="Q8Kernels"/>' group layout (16 rows interleaved, the last group padded with zero rows), multiplied by
/// inputs quantised the same way.
/// </summary>
public sealed unsafe class Q8Matrix : WeightMatrix
{
    readonly AlignedBuffer<sbyte> quants; // (groups, blocks, 512): see Q8Kernels
    readonly AlignedBuffer<float> scales; // (groups, blocks, 16)
    readonly int blocks;

    public Q8Matrix(ReadOnlySpan<float> values, int rows, int columns) : base(rows, columns)
    {
        if (columns % Kernels.Q8Block != 0) throw new ArgumentException($"Q8_0 needs rows of a multiple of {Kernels.Q8Block} values, got {columns}");
        blocks = columns / Kernels.Q8Block;
        var groups = (rows + Q8Kernels.GroupRows - 1) / Q8Kernels.GroupRows;
        quants = new AlignedBuffer<sbyte>((long)groups * Q8Kernels.GroupRows * columns);
        scales = new AlignedBuffer<float>((long)groups * Q8Kernels.GroupRows * blocks);
        Span<sbyte> q = stackalloc sbyte[Kernels.Q8Block];
        for (var o = 0; o < rows; o++)
            for (var k = 0; k < blocks; k++)
            {
                var (groupBlock, r) = GroupBlock(o, k);
                scales.Pointer[groupBlock * Q8Kernels.GroupRows + r] = QuantizeBlock(values.Slice(o * columns + k * Kernels.Q8Block, Kernels.Q8Block), q);
                for (var j = 0; j < Kernels.Q8Block; j++) quants.Pointer[groupBlock * Q8Kernels.GroupRows * Kernels.Q8Block + Q8Kernels.OffsetInGroupBlock(r, j)] = q[j];
            }
    }

    // Row o's block k: the index of its group block (group, k) and the row's place r in the group.
    (long GroupBlock, int Row) GroupBlock(int o, int k) => ((long)(o / Q8Kernels.GroupRows) * blocks + k, o % Q8Kernels.GroupRows);

    /// <summary>Quantises 32 values; returns the block's scale (exactly representable as a 16-bit float).</summary>
    public static float QuantizeBlock(ReadOnlySpan<float> block, Span<sbyte> q)
    {
        var max = 0f;
        foreach (var v in block) max = Math.Max(max, Math.Abs(v));
        var scale = (float)(Half)(max / 127f);
        var inverse = scale == 0 ? 0 : 1f / scale;
        for (var i = 0; i < block.Length; i++) q[i] = (sbyte)Math.Clamp(MathF.Round(block[i] * inverse), -127, 127);
        return scale;
    }

    public override WeightFormat Format => WeightFormat.Q8_0;
    public override long Bytes => quants.Bytes + scales.Bytes; // scales as 32-bit floats (a file holds 16-bit ones)
    public override bool ReadsQuantizedInput => true;

    public override void Multiply(float* x, QuantizedInput? quantized, int count, float* y, int yStride, float* bias, bool accumulate, int first, int end)
    {
        if (quantized is null) throw new ArgumentNullException(nameof(quantized), "a Q8_0 matrix multiplies quantised input");
        Q8Kernels.MatMul(quants.Pointer, scales.Pointer, In, quantized.Values, quantized.Scales, count, y, yStride, bias, accumulate, first, end);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Row(int o, float* destination)
    {
        for (var k = 0; k < blocks; k++)
        {
            var (groupBlock, r) = GroupBlock(o, k);
            var scale = scales.Pointer[groupBlock * Q8Kernels.GroupRows + r];
            var q = quants.Pointer + groupBlock * Q8Kernels.GroupRows * Kernels.Q8Block;
            for (var j = 0; j < Kernels.Q8Block; j++) destination[k * Kernels.Q8Block + j] = scale * q[Q8Kernels.OffsetInGroupBlock(r, j)];
        }
    }

    public override void Dispose()
    {
        quants.Dispose();
        scales.Dispose();
    }
}

/// <summary>
/// A product's input rows quantised for Q8_0 matrices (<see cref="Q8Kernels.QuantizeRows"/>): values (rows, columns)
/// as 16-bit integers, scales (rows, columns / 32). Owned by one decoder, filled once per product.
/// </summary>
public sealed unsafe class QuantizedInput(long capacity) : IDisposable
{
    readonly AlignedBuffer<short> values = new(capacity);
    readonly AlignedBuffer<float> scales = new(capacity / Kernels.Q8Block);

    public short* Values => values.Pointer;
    public float* Scales => scales.Pointer;

    /// <summary>Quantises x (count, columns); columns a multiple of 32.</summary>
    public void Quantize(float* x, int count, int columns)
    {
        if ((long)count * columns > values.Length) throw new ArgumentException($"{count} x {columns} values do not fit {values.Length}");
        Q8Kernels.QuantizeRows(x, count, columns, values.Pointer, scales.Pointer);
    }

    public void Dispose()
    {
        values.Dispose();
        scales.Dispose();
    }
}
