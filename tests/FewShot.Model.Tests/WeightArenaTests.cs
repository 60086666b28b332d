using FewShot.Model.Inference;

namespace FewShot.Model.Tests;

/// <summary>
/// F32 matrices laid out thread by thread in one buffer (<see cref="WeightArena"/>) multiply and read back rows exactly
/// as matrices in buffers of their own, for 1-3 streams, row counts that do and do not fill the 16-row grain, and
/// products that cross a piece boundary.
/// </summary>
public sealed unsafe class WeightArenaTests
{
    static readonly (int Rows, int Columns)[] Shapes = [(37, 96), (16, 32), (48, 384), (1152, 384), (5, 64)];

    static float[] Values(int i, (int Rows, int Columns) shape)
    {
        var random = new Random(i);
        return Enumerable.Range(0, shape.Rows * shape.Columns).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
    }

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)]
    public void ArenaMatricesMultiplyAndReadRowsAsPlainOnes(int streams)
    {
        var values = Shapes.Select((s, i) => Values(i, s)).ToArray();
        using var arena = new WeightArena(Shapes, i => values[i], streams, grain: 16);
        Assert.Equal(Shapes.Sum(s => (long)s.Rows * s.Columns) * 4, arena.Bytes);
        for (var m = 0; m < Shapes.Length; m++)
        {
            var (rows, columns) = Shapes[m];
            using var plain = new F32Matrix(values[m], rows, columns);
            var ours = arena.Matrices[m];
            var row = new float[columns];
            var expected = new float[columns];
            fixed (float* r = row, e = expected)
                for (var o = 0; o < rows; o++)
                {
                    ours.Row(o, r);
                    plain.Row(o, e);
                    Assert.Equal(expected, row);
                }
            foreach (var count in new[] { 1, 3, 8 })
                foreach (var (first, end) in new[] { (0, rows), (rows / 3, rows - rows / 5) }) // the second crosses a piece boundary
                {
                    var random = new Random(count);
                    var x = Enumerable.Range(0, count * columns).Select(_ => (float)random.NextDouble()).ToArray();
                    var bias = Enumerable.Range(0, rows).Select(o => o * 0.01f).ToArray();
                    var (a, b) = (new float[count * rows], new float[count * rows]);
                    fixed (float* px = x, pb = bias, pa = a, pp = b)
                    {
                        ours.Multiply(px, null, count, pa, rows, pb, accumulate: false, first, end);
                        plain.Multiply(px, null, count, pp, rows, pb, accumulate: false, first, end);
                    }
                    Assert.Equal(b, a);
                }
        }
    }

    [Theory]
    [InlineData(2)] [InlineData(3)] [InlineData(4)]
    public void HomeRangesStartWhereTheTeamsPartsStart(int threads)
    {
        // The arena puts thread p's piece of a matrix at WorkerTeam.HomeStart; the team must start a part exactly there.
        using var team = new WorkerTeam(threads);
        foreach (var total in new[] { 5, 16, 37, 384, 1152, 8192, 50257 })
        {
            var starts = new System.Collections.Concurrent.ConcurrentBag<int>();
            team.For(total, (first, _, _) => starts.Add(first), grain: 16);
            for (var p = 1; p < threads; p++)
            {
                var home = WorkerTeam.HomeStart(total, 16, p, threads);
                if (home < total) Assert.Contains(home, starts);
            }
            Assert.Equal(total, WorkerTeam.HomeStart(total, 16, threads, threads));
        }
    }
}
