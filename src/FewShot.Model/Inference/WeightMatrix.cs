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

    /// <summary>y[t, o] (+)= bias[o] + W[o, :] . x[t, :] for o in [first, end), t in [0, count).</summary>
    public abstract void Multiply(float* x, int count, float* y, int yStride, float* bias, bool accumulate, int first, int end);

    /// <summary>Row o as floats (an embedding lookup from the tied matrix).</summary>
    public abstract void Row(int o, float* destination);

    /// <summary>Stores the values (row-major [rows, columns]) in this format; Q8_0 needs columns divisible by 32.</summary>
    public static WeightMatrix Create(ReadOnlySpan<float> values, int rows, int columns, WeightFormat format) =>
        format == WeightFormat.Q8_0 && columns % Kernels.Q8Block == 0
            ? new Q8Matrix(values, rows, columns)
            : new F32Matrix(values, rows, columns);

    public abstract void Dispose();
}

public sealed unsafe class F32Matrix(ReadOnlySpan<float> values, int rows, int columns) : WeightMatrix(rows, columns)
{
    readonly AlignedBuffer<float> data = new(values[..checked(rows * columns)]);

    public override WeightFormat Format => WeightFormat.F32;
    public override long Bytes => data.Bytes;

    public override void Multiply(float* x, int count, float* y, int yStride, float* bias, bool accumulate, int first, int end) =>
        Kernels.MatMul(data.Pointer, In, x, count, y, yStride, bias, accumulate, first, end);

    public override void Row(int o, float* destination) =>
        new ReadOnlySpan<float>(data.Pointer + (long)o * In, In).CopyTo(new Span<float>(destination, In));

    public override void Dispose() => data.Dispose();
}

/// <summary>Q8_0: per block of 32 weights of a row, scale = max |w| / 127 (as a 16-bit float) and q = round(w / scale).</summary>
public sealed unsafe class Q8Matrix : WeightMatrix
{
    readonly AlignedBuffer<sbyte> quants;
    readonly AlignedBuffer<float> scales;

    public Q8Matrix(ReadOnlySpan<float> values, int rows, int columns) : base(rows, columns)
    {
        if (columns % Kernels.Q8Block != 0) throw new ArgumentException($"Q8_0 needs rows of a multiple of {Kernels.Q8Block} values, got {columns}");
        quants = new AlignedBuffer<sbyte>((long)rows * columns);
        scales = new AlignedBuffer<float>((long)rows * columns / Kernels.Q8Block);
        var q = new Span<sbyte>(quants.Pointer, checked(rows * columns));
        var s = new Span<float>(scales.Pointer, rows * columns / Kernels.Q8Block);
        for (var b = 0; b < s.Length; b++) s[b] = QuantizeBlock(values.Slice(b * Kernels.Q8Block, Kernels.Q8Block), q.Slice(b * Kernels.Q8Block, Kernels.Q8Block));
    }

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
    public override long Bytes => quants.Bytes + scales.Length * 2; // the scales as the 16-bit floats a file holds

    /// <summary>The quantised values (rows x columns) and the scales (rows x columns / 32), for writing files.</summary>
    public ReadOnlySpan<sbyte> Quants => new(quants.Pointer, Out * In);
    public ReadOnlySpan<float> Scales => new(scales.Pointer, Out * In / Kernels.Q8Block);

    public override void Multiply(float* x, int count, float* y, int yStride, float* bias, bool accumulate, int first, int end) =>
        Kernels.MatMulQ8(quants.Pointer, scales.Pointer, In, x, count, y, yStride, bias, accumulate, first, end);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Row(int o, float* destination)
    {
        var q = quants.Pointer + (long)o * In;
        var s = scales.Pointer + (long)o * In / Kernels.Q8Block;
        for (var i = 0; i < In; i++) destination[i] = s[i / Kernels.Q8Block] * q[i];
    }

    public override void Dispose()
    {
        quants.Dispose();
        scales.Dispose();
    }
}
