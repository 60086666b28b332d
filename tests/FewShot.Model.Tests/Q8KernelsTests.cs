using FewShot.Model.Inference;

namespace FewShot.Model.Tests;

/// <summary>
/// Q8_0 weights times 8-bit inputs: the grouped integer product against a plain reference built from the row-major
/// blocks, for 1..8 inputs per pass and shapes that do and do not fill whole vectors and groups.
/// </summary>
[Collection(ProcessWideSettings.Collection)]
public sealed unsafe class Q8KernelsTests
{
    // (outputs, inputs): 37 leaves a partial group of 16 rows; 32 is one block, half a 512-bit vector of bytes;
    // 96 is three blocks (not a multiple of 64); 384 is the small model's width.
    public static TheoryData<int, int, int, bool> Shapes()
    {
        var data = new TheoryData<int, int, int, bool>();
        foreach (var vectors in new[] { true, false })
            foreach (var (outputs, inputs) in new[] { (16, 32), (37, 96), (48, 384) })
                for (var count = 1; count <= 8; count++)
                    if (vectors || count is 1 or 3 or 8) data.Add(outputs, inputs, count, vectors);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ProductEqualsTheBlockwiseReference(int outputs, int inputs, int count, bool vectors)
    {
        var path = new KernelPath(vectors);
        try
        {
            var random = new Random(outputs * 1000 + inputs * 10 + count);
            var w = Enumerable.Range(0, outputs * inputs).Select(_ => (float)(random.NextDouble() * 2 - 1) * 0.05f).ToArray();
            var x = Enumerable.Range(0, count * inputs).Select(_ => (float)(random.NextDouble() * 2 - 1) * 3f).ToArray();
            var bias = Enumerable.Range(0, outputs).Select(o => 0.01f * o).ToArray();
            var expected = Reference(w, x, bias, outputs, inputs, count);

            using var matrix = new Q8Matrix(w, outputs, inputs);
            using var input = new QuantizedInput(count * inputs);
            using var xs = new AlignedBuffer<float>(x);
            using var b = new AlignedBuffer<float>(bias);
            using var y = new AlignedBuffer<float>(count * outputs);
            input.Quantize(xs.Pointer, count, inputs);
            // Two parts split at a group boundary, the second ending at a partial group: as the worker team splits it.
            var split = Math.Min(outputs, Q8Kernels.GroupRows);
            matrix.Multiply(xs.Pointer, input, count, y.Pointer, outputs, b.Pointer, accumulate: false, 0, split);
            matrix.Multiply(xs.Pointer, input, count, y.Pointer, outputs, b.Pointer, accumulate: false, split, outputs);
            for (var i = 0; i < count * outputs; i++)
                Assert.True(Math.Abs(y.Pointer[i] - expected[i]) <= 1e-5 * (1 + Math.Abs(expected[i])), $"output {i}: {y.Pointer[i]} against {expected[i]}");

            // Accumulating adds the same product again.
            matrix.Multiply(xs.Pointer, input, count, y.Pointer, outputs, null, accumulate: true, 0, outputs);
            for (var i = 0; i < count * outputs; i++)
            {
                var twice = 2 * expected[i] - bias[i % outputs];
                Assert.True(Math.Abs(y.Pointer[i] - twice) <= 2e-5 * (1 + Math.Abs(twice)), $"accumulated output {i}: {y.Pointer[i]} against {twice}");
            }
        }
        finally { path.Dispose(); }
    }

    // y[t, o] = bias[o] + sum over blocks of (weight scale)(input scale)(integer dot), from row-major blocks, in doubles.
    static double[] Reference(float[] w, float[] x, float[] bias, int outputs, int inputs, int count)
    {
        const int block = Kernels.Q8Block;
        var wq = new sbyte[w.Length];
        var ws = new float[w.Length / block];
        for (var k = 0; k < ws.Length; k++) ws[k] = Q8Matrix.QuantizeBlock(w.AsSpan(k * block, block), wq.AsSpan(k * block, block));
        var y = new double[count * outputs];
        for (var t = 0; t < count; t++)
            for (var o = 0; o < outputs; o++)
            {
                double sum = bias[o];
                for (var k = 0; k < inputs / block; k++)
                {
                    var xBlock = x.AsSpan(t * inputs + k * block, block);
                    var xScale = xBlock.ToArray().Max(Math.Abs) / 127f;
                    var dot = 0L;
                    for (var j = 0; j < block; j++)
                        dot += wq[o * inputs + k * block + j] * (long)Math.Clamp(MathF.Round(xBlock[j] / xScale), -127, 127);
                    sum += (double)ws[o * inputs / block + k] * xScale * dot;
                }
                y[t * outputs + o] = sum;
            }
        return y;
    }

    [Fact]
    public void ProductIsCloseToTheFloatProduct()
    {
        const int outputs = 64, inputs = 384;
        var random = new Random(5);
        var w = Enumerable.Range(0, outputs * inputs).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var x = Enumerable.Range(0, inputs).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        using var matrix = new Q8Matrix(w, outputs, inputs);
        using var input = new QuantizedInput(inputs);
        using var xs = new AlignedBuffer<float>(x);
        using var y = new AlignedBuffer<float>(outputs);
        input.Quantize(xs.Pointer, 1, inputs);
        matrix.Multiply(xs.Pointer, input, 1, y.Pointer, outputs, null, accumulate: false, 0, outputs);
        for (var o = 0; o < outputs; o++)
        {
            var exact = 0.0;
            for (var i = 0; i < inputs; i++) exact += (double)w[o * inputs + i] * x[i];
            // Two 8-bit roundings per product: errors of ~1/254 of each block's largest value, summed at random.
            Assert.True(Math.Abs(y.Pointer[o] - exact) < 0.05, $"output {o}: {y.Pointer[o]} against {exact}");
        }
    }

    [Fact]
    public void VectorAndScalarQuantisationOfInputsAgree()
    {
        var random = new Random(6);
        var x = Enumerable.Range(0, 3 * 96).Select(i => i % 97 == 0 ? 0f : (float)(random.NextDouble() * 2 - 1) * (i % 7)).ToArray();
        using var xs = new AlignedBuffer<float>(x);
        using var vector = new QuantizedInput(x.Length);
        using var scalar = new QuantizedInput(x.Length);
        vector.Quantize(xs.Pointer, 3, 96);
        var path = new KernelPath(vectors: false);
        try { scalar.Quantize(xs.Pointer, 3, 96); }
        finally { path.Dispose(); }
        for (var i = 0; i < x.Length; i++) Assert.Equal(scalar.Values[i], vector.Values[i]);
        for (var k = 0; k < x.Length / Kernels.Q8Block; k++) Assert.Equal(scalar.Scales[k], vector.Scales[k]);
    }

    [Fact]
    public void RowsReadBackFromTheGroupLayout()
    {
        const int outputs = 37, inputs = 64;
        var w = Enumerable.Range(0, outputs * inputs).Select(i => MathF.Sin(i * 0.1f)).ToArray();
        using var matrix = new Q8Matrix(w, outputs, inputs);
        using var row = new AlignedBuffer<float>(inputs);
        var q = new sbyte[Kernels.Q8Block];
        foreach (var o in new[] { 0, 15, 16, 36 })
        {
            matrix.Row(o, row.Pointer);
            for (var k = 0; k < inputs / Kernels.Q8Block; k++)
            {
                var scale = Q8Matrix.QuantizeBlock(w.AsSpan(o * inputs + k * Kernels.Q8Block, Kernels.Q8Block), q);
                for (var j = 0; j < Kernels.Q8Block; j++) Assert.Equal(scale * q[j], row.Pointer[k * Kernels.Q8Block + j]);
            }
        }
    }
}
