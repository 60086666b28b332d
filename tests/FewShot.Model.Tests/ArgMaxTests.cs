using FewShot.Model.Inference;

namespace FewShot.Model.Tests;

/// <summary>Kernels.ArgMax (a greedy pick) against a plain loop: first of equal maxima, first NaN, lengths that do and do not fill vectors.</summary>
[Collection(ProcessWideSettings.Collection)]
public sealed unsafe class ArgMaxTests
{
    // The index torch's argmax gives: the first NaN if there is one, else the first of the largest values.
    static int Reference(float[] x)
    {
        var nan = Array.FindIndex(x, float.IsNaN);
        if (nan >= 0) return nan;
        var best = 0;
        for (var i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    [Theory]
    [InlineData(1, true)] [InlineData(15, true)] [InlineData(16, true)] [InlineData(37, true)] [InlineData(8192, true)] [InlineData(50257, true)]
    [InlineData(1, false)] [InlineData(37, false)] [InlineData(8192, false)]
    public void ArgMaxEqualsTheFirstLargestOrTheFirstNaN(int n, bool vectors)
    {
        var path = new KernelPath(vectors);
        try
        {
            var random = new Random(n);
            var x = Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() * 20 - 10).ToArray();
            int ArgMax() { fixed (float* p = x) return Kernels.ArgMax(p, n); }
            Assert.Equal(Reference(x), ArgMax());
            // A tie: the largest value again, later and earlier than the first occurrence.
            var top = Reference(x);
            x[n - 1] = x[top];
            Assert.Equal(Reference(x), ArgMax());
            x[n / 3] = x[top];
            Assert.Equal(Reference(x), ArgMax());
            // Every value -infinity: index 0.
            Array.Fill(x, float.NegativeInfinity);
            Assert.Equal(0, ArgMax());
            // A NaN wins wherever it is, the first one if several.
            x[n / 2] = float.NaN;
            x[n - 1] = float.NaN;
            Assert.Equal(n / 2, ArgMax());
        }
        finally { path.Dispose(); }
    }
}
