using FewShot.Model.Inference;

namespace FewShot.Model.Tests;

/// <summary>F32 products over panels: against sums in doubles, and the vector path bit for bit against the scalar one.</summary>
[Collection(ProcessWideSettings.Collection)]
public sealed unsafe class PanelKernelsTests
{
    [Theory]
    [InlineData(32, 384, 1)]  // a full group, one input (four interleaved partial sums)
    [InlineData(32, 384, 8)]  // a full group, eight inputs
    [InlineData(32, 37, 3)]   // columns not a multiple of 4 or 16
    [InlineData(5, 96, 2)]    // a group's rest: the scalar path whatever the CPU
    public void PanelProductsMatchDoublesAndTheScalarPathBitForBit(int rows, int columns, int count)
    {
        var random = new Random(rows * 1000 + columns + count);
        float Next() => (float)(random.NextDouble() * 2 - 1);
        var weights = Enumerable.Range(0, rows * columns).Select(_ => Next()).ToArray();
        var x = Enumerable.Range(0, count * columns).Select(_ => Next()).ToArray();
        var bias = Enumerable.Range(0, rows).Select(_ => Next()).ToArray();
        var start = Enumerable.Range(0, count * rows).Select(_ => Next()).ToArray();
        var panel = new float[rows * columns];
        fixed (float* p = panel) PanelKernels.Pack(weights, rows, columns, p);

        float[] Run(bool vectors, bool accumulate)
        {
            var path = new KernelPath(vectors);
            try
            {
                var y = (float[])start.Clone();
                fixed (float* p = panel, px = x, pb = bias, py = y)
                    PanelKernels.Multiply(p, rows, columns, px, count, py, rows, pb, accumulate);
                return y;
            }
            finally { path.Dispose(); }
        }

        foreach (var accumulate in new[] { false, true })
        {
            var (vector, scalar) = (Run(true, accumulate), Run(false, accumulate));
            Assert.Equal(scalar, vector);
            for (var t = 0; t < count; t++)
                for (var o = 0; o < rows; o++)
                {
                    var expected = (accumulate ? start[t * rows + o] : 0.0) + bias[o];
                    for (var i = 0; i < columns; i++) expected += (double)weights[o * columns + i] * x[t * columns + i];
                    Assert.True(Math.Abs(vector[t * rows + o] - expected) < 1e-4, $"t {t}, o {o}: {vector[t * rows + o]} against {expected}");
                }
        }
    }

    [Fact]
    public void RowsReadBackFromPanels()
    {
        var (rows, columns) = (70, 24); // two full groups and a rest of 6
        var weights = Enumerable.Range(0, rows * columns).Select(i => (float)i).ToArray();
        using var matrix = new F32Matrix(weights, rows, columns);
        var row = new float[columns];
        fixed (float* r = row)
            foreach (var o in new[] { 0, 31, 32, 63, 64, 69 })
            {
                matrix.Row(o, r);
                Assert.Equal(weights.AsSpan(o * columns, columns).ToArray(), row);
            }
    }
}
