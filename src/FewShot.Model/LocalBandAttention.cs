using static TorchSharp.torch;

namespace FewShot.Model;

/// <summary>
/// Locally banded causal attention (query i sees keys i - window &lt; j &lt;= i) with its own backward pass, so that
/// neither direction holds more than one chunk's scores: time and memory grow with T x window, and the memory that
/// outlives a chunk is what dense attention keeps too (the output; in backward, the three input gradients).
///
/// The queries are cut into chunks of C = max(64, window / 4) positions. Chunk [s, e) only sees keys
/// [s - window + 1, e), so it is one small dense problem of C x (C + window - 1) scores under a band mask; at most a
/// fifth of them are masked for windows of 256 and more (against half with chunks as long as the window), and 64
/// queries still give the matrix multiplications some width for small windows. Backward recomputes each chunk's
/// probabilities (as flash attention does) and adds the chunk's key and value gradients into their slices. Attention
/// dropout draws its mask from a generator seeded per call, and backward regenerates the identical mask from the seed.
/// </summary>
sealed class LocalBandAttention : autograd.SingleTensorFunction<LocalBandAttention>
{
    public override string Name => nameof(LocalBandAttention);

    /// <summary>q, k, v: (B, nh, T, hs); returns (B, nh, T, hs).</summary>
    public static Tensor Apply(Tensor q, Tensor k, Tensor v, int window, double dropout)
    {
        // The dropout seed comes from the global generator, so checkpoints that restore it also restore the masks.
        var seed = dropout > 0 ? randint(long.MaxValue, [1]).item<long>() : 0;
        return apply(q, k, v, window, dropout, seed);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (q, k, v, window, dropout, seed) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (int)vars[3], (double)vars[4], (long)vars[5]);
        var (B, H, T, D) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
        var scale = 1.0 / Math.Sqrt(D);
        var output = empty([B, H, T, D], q.dtype, q.device);
        using (no_grad())
        {
            foreach (var chunk in Chunks(T, window))
            {
                using var scope = NewDisposeScope();
                var probabilities = chunk.Probabilities(q, k, scale, window);                   // (B, H, Lq, Lk)
                if (dropout > 0) probabilities.mul_(chunk.DropoutKeep(probabilities, dropout, seed));
                chunk.Queries(output).copy_(matmul(probabilities, chunk.Keys(v)));
            }
        }
        ctx.save_for_backward([q, k, v, output]);
        ctx.save_data("window", window);
        ctx.save_data("dropout", dropout);
        ctx.save_data("seed", seed);
        return output;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var (q, k, v, output) = (saved[0], saved[1], saved[2], saved[3]);
        var (window, dropout, seed) = ((int)ctx.get_data("window"), (double)ctx.get_data("dropout"), (long)ctx.get_data("seed"));
        var (B, H, T, D) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
        var scale = 1.0 / Math.Sqrt(D);
        var gradQ = empty([B, H, T, D], q.dtype, q.device);
        var gradK = zeros([B, H, T, D], k.dtype, k.device);
        var gradV = zeros([B, H, T, D], v.dtype, v.device);
        using (no_grad())
        {
            foreach (var chunk in Chunks(T, window))
            {
                using var scope = NewDisposeScope();
                var (keys, values, gradOut) = (chunk.Keys(k), chunk.Keys(v), chunk.Queries(gradOutput));
                // delta_i = sum_d dO_id O_id = sum_j P_ij dP_ij, the softmax backward's row term (dropout included).
                var delta = (gradOut * chunk.Queries(output)).sum(-1, keepdim: true);          // (B, H, Lq, 1)
                var probabilities = chunk.Probabilities(q, k, scale, window);                   // (B, H, Lq, Lk), recomputed
                var gradProbabilities = matmul(gradOut, values.transpose(-2, -1));               // (B, H, Lq, Lk)
                if (dropout > 0)
                {
                    var keep = chunk.DropoutKeep(probabilities, dropout, seed);
                    chunk.Keys(gradV).add_(matmul((probabilities * keep).transpose(-2, -1), gradOut));
                    gradProbabilities.mul_(keep);
                }
                else chunk.Keys(gradV).add_(matmul(probabilities.transpose(-2, -1), gradOut));
                var gradScores = gradProbabilities.sub_(delta).mul_(probabilities);             // d loss / d (q k^T / sqrt(hs))
                chunk.Queries(gradQ).copy_(matmul(gradScores, keys).mul_(scale));
                chunk.Keys(gradK).add_(matmul(gradScores.transpose(-2, -1), chunk.Queries(q)).mul_(scale));
            }
        }
        return [gradQ, gradK, gradV, null!, null!, null!];
    }

    /// <summary>Queries [Start, Start + Length) and the keys they can reach, [KeyStart, Start + Length).</summary>
    readonly record struct Chunk(long Start, long Length, long KeyStart, long Index)
    {
        public Tensor Queries(Tensor x) => x.narrow(2, Start, Length);
        public Tensor Keys(Tensor x) => x.narrow(2, KeyStart, Start + Length - KeyStart);

        /// <summary>softmax(q k^T / sqrt(hs)) over the keys the band shows: (B, H, Lq, Lk).</summary>
        public Tensor Probabilities(Tensor q, Tensor k, double scale, int window) =>
            matmul(Queries(q) * scale, Keys(k).transpose(-2, -1)).masked_fill_(Hidden(window, q.device), double.NegativeInfinity).softmax(-1);

        /// <summary>(Lq, Lk) bool, true where the band hides key j from query i: j &gt; i or j &lt;= i - window.</summary>
        public Tensor Hidden(int window, Device device)
        {
            var query = arange(Start, Start + Length, device: device).view(-1, 1);
            var key = arange(KeyStart, Start + Length, device: device).view(1, -1);
            return (key > query).logical_or(key <= query - window);
        }

        /// <summary>The chunk's dropout mask, scaled by 1 / (1 - p); the same for the same seed and chunk.</summary>
        public Tensor DropoutKeep(Tensor like, double dropout, long seed)
        {
            using var generator = new Generator(unchecked((ulong)seed + (ulong)Index * 0x9E3779B97F4A7C15UL), like.device);
            return empty_like(like).bernoulli_(1 - dropout, generator).div_(1 - dropout);
        }
    }

    static IEnumerable<Chunk> Chunks(long T, int window)
    {
        long length = Math.Max(64, window / 4);
        for (long start = 0, index = 0; start < T; start += length, index++)
            yield return new Chunk(start, Math.Min(length, T - start), Math.Max(0, start - window + 1), index);
    }
}
