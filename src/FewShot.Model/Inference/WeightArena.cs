namespace FewShot.Model.Inference;

/// <summary>
/// F32 matrices in one buffer, laid out in the order the threads of a decoding step read them: first everything
/// thread 0 reads (its home rows of each matrix, <see cref="WorkerTeam.HomeStart"/>, matrices in the order of the
/// step), then thread 1's, and so on. Each thread then streams one contiguous region per step instead of a new piece
/// per matrix: the hardware prefetcher runs on across the joins instead of starting cold ~25 times a token, which on
/// this machine is worth ~25-30% of a thread's streaming rate (docs/performance.md, "one stream per thread").
/// </summary>
public sealed unsafe class WeightArena : IDisposable
{
    readonly AlignedBuffer<float> buffer;

    /// <summary>The matrices, in the order given; they index rows as usual, wherever their pieces lie.</summary>
    public IReadOnlyList<F32Matrix> Matrices { get; }

    /// <param name="shapes">(rows, columns) of each matrix, in the order a step reads them.</param>
    /// <param name="values">Matrix i's row-major values (read one matrix at a time: no second copy of all weights).</param>
    /// <param name="streams">The threads that will split each matrix by rows (home ranges in parts of <paramref name="grain"/> rows).</param>
    public WeightArena(IReadOnlyList<(int Rows, int Columns)> shapes, Func<int, float[]> values, int streams, int grain)
    {
        streams = Math.Max(1, streams);
        buffer = new AlignedBuffer<float>(shapes.Sum(m => (long)m.Rows * m.Columns));
        // starts[m][p]: the first row of thread p's piece of matrix m (starts[m][streams] = rows); pieces[m][p]: where it lies.
        var starts = shapes.Select(m => Enumerable.Range(0, streams + 1).Select(p => WorkerTeam.HomeStart(m.Rows, grain, p, streams)).ToArray()).ToArray();
        var pieces = shapes.Select(_ => new float*[streams]).ToArray();
        var at = buffer.Pointer;
        for (var p = 0; p < streams; p++)
            for (var m = 0; m < shapes.Count; m++)
            {
                pieces[m][p] = at;
                at += (long)(starts[m][p + 1] - starts[m][p]) * shapes[m].Columns;
            }
        for (var m = 0; m < shapes.Count; m++)
        {
            var (all, columns) = (values(m), shapes[m].Columns);
            for (var p = 0; p < streams; p++)
            {
                var (first, end) = (starts[m][p], starts[m][p + 1]);
                PanelKernels.Pack(all.AsSpan(first * columns, (end - first) * columns), end - first, columns, pieces[m][p]);
            }
        }
        Matrices = shapes.Select((m, i) => new F32Matrix(m.Rows, m.Columns, pieces[i], starts[i])).ToArray();
    }

    public long Bytes => buffer.Bytes;

    public void Dispose() => buffer.Dispose();
}
