using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Model;

/// <summary>
/// The Sparse Transformer's factorised patterns computed without a T x T matrix: each is rearranged into many small
/// dense problems for the fused attention kernel. q, k, v are (B, nh, T, hs); T need not be a multiple of l.
/// </summary>
public static class SparsePatternKernels
{
    /// <summary>Strided A(2): query i sees j &lt;= i with (i - j) mod l == 0. Positions of one residue form a causal sequence.</summary>
    public static Tensor EveryNth(Tensor q, Tensor k, Tensor v, int l, double dropout)
    {
        var (B, H, T, D) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
        var rows = (T + l - 1) / l;
        // (B, H, rows * l, D) -> (B, H, l, rows, D): residue r's positions r, r + l, ... in order. Padding comes last, so
        // causality keeps every real query away from it.
        Tensor Residues(Tensor x) => Pad(x, rows * l).view(B, H, rows, l, D).transpose(2, 3).reshape(B, H * l, rows, D);
        var y = Attention.Scaled(Residues(q), Residues(k), Residues(v), null, dropout, causal: true);
        return y.view(B, H, l, rows, D).transpose(2, 3).reshape(B, H, rows * l, D).narrow(2, 0, T);
    }

    /// <summary>Fixed A(1): query i sees j &lt;= i in its own block of l positions. One causal problem per block.</summary>
    public static Tensor WithinBlocks(Tensor q, Tensor k, Tensor v, int l, double dropout)
    {
        var (B, H, T, D) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
        var blocks = (T + l - 1) / l;
        Tensor Blocks(Tensor x) => Pad(x, blocks * l).view(B, H * blocks, l, D);
        var y = Attention.Scaled(Blocks(q), Blocks(k), Blocks(v), null, dropout, causal: true);
        return y.view(B, H, blocks * l, D).narrow(2, 0, T);
    }

    /// <summary>
    /// Fixed A(2): query i sees the summary columns j &lt;= i (the last c positions of every block) and itself.
    /// Each query block attends over [all summary columns, its own block], masked by position: T x (T c / l + l).
    /// </summary>
    public static Tensor SummaryColumns(Tensor q, Tensor k, Tensor v, int l, int c, double dropout)
    {
        var (B, H, T, D) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
        long blocks = (T + l - 1) / l, P = blocks * l, columns = blocks * c;
        var qb = Pad(q, P).view(B, H, blocks, l, D);
        Tensor Keys(Tensor x)
        {
            var own = Pad(x, P).view(B, H, blocks, l, D);
            var summary = own.narrow(3, l - c, c).reshape(B, H, 1, columns, D).expand(B, H, blocks, columns, D);
            return cat([summary, own], 3).view(B, H * blocks, columns + l, D);        // (B, H * blocks, columns + l, D)
        }

        // Positions: query n*l + a; summary column s at (s / c) * l + (l - c) + s mod c; own key n*l + e.
        var n = arange(blocks, device: q.device).view(-1, 1, 1);
        var query = n * l + arange(l, device: q.device).view(1, -1, 1);                // (blocks, l, 1)
        var s = arange(columns, device: q.device);
        var summaryPosition = (s.div(c, rounding_mode: RoundingMode.floor) * l + (l - c) + s.remainder(c)).view(1, 1, -1);
        var ownPosition = n * l + arange(l, device: q.device).view(1, 1, -1);          // (blocks, 1, l)
        var mask = cat([
            (summaryPosition <= query).expand(blocks, l, columns),
            (ownPosition == query).logical_and(ownPosition.remainder(l) < l - c),     // itself, unless already a summary column
        ], 2).unsqueeze(0).expand(H, blocks, l, columns + l).reshape(1, H * blocks, l, columns + l);
        // A position can appear in both parts; the first part alone admits summary columns, so none is counted twice.
        var y = Attention.Scaled(qb.reshape(B, H * blocks, l, D), Keys(k), Keys(v), mask, dropout, causal: false);
        return y.view(B, H, P, D).narrow(2, 0, T);
    }

    static Tensor Pad(Tensor x, long length) => x.shape[2] == length ? x : F.pad(x, [0, 0, 0, length - x.shape[2]]);
}
