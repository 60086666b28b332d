using static TorchSharp.torch;

namespace FewShot.Model;

/// <summary>What a group of heads attends to (always causally: never a later position).</summary>
public enum HeadPattern
{
    /// <summary>Every earlier position.</summary>
    Dense,
    /// <summary>The previous Size positions (itself included): i - Size &lt; j &lt;= i.</summary>
    Band,
    /// <summary>Every Size-th position: (i - j) mod Size == 0 (the Sparse Transformer's strided A(2)).</summary>
    Every,
    /// <summary>The own block of Size positions: floor(j / Size) == floor(i / Size) (fixed A(1)).</summary>
    Block,
    /// <summary>
    /// The last Summary positions of every block, j mod Size &gt;= Size - Summary (fixed A(2)), and the query itself, so that
    /// a query before the first summary column still has something to attend to.
    /// </summary>
    Summary,
}

/// <summary>Heads [First, First + Count) of a layer follow one pattern.</summary>
public sealed record HeadGroup(int First, int Count, HeadPattern Pattern, int Size, int Summary = 0);

/// <summary>
/// A layer's attention as groups of heads with one pattern each. Dense and local layers are one group; a strided or
/// fixed layer splits its two patterns across the heads (half each) or across layers (alternately), as the Sparse
/// Transformer paper does.
/// </summary>
public sealed record LayerPattern(AttentionKind Kind, IReadOnlyList<HeadGroup> Groups)
{
    public bool IsDense => Groups.All(g => g.Pattern == HeadPattern.Dense);

    public static LayerPattern For(GptConfig config, int layer)
    {
        var kind = config.KindOfLayer(layer);
        var heads = config.Heads;
        var l = config.SparseStride;
        IReadOnlyList<HeadGroup> Split(HeadPattern first, HeadPattern second, int summary)
        {
            if (config.SparseSplit == "heads")
                return [new HeadGroup(0, heads / 2, first, l, summary), new HeadGroup(heads / 2, heads - heads / 2, second, l, summary)];
            // Across layers: the n-th layer of this kind takes the first pattern when n is even.
            var n = Enumerable.Range(0, layer).Count(i => config.KindOfLayer(i) == kind);
            return [new HeadGroup(0, heads, n % 2 == 0 ? first : second, l, summary)];
        }
        return new LayerPattern(kind, kind switch
        {
            AttentionKind.Dense => [new HeadGroup(0, heads, HeadPattern.Dense, 0)],
            AttentionKind.Local => [new HeadGroup(0, heads, HeadPattern.Band, config.Window)],
            AttentionKind.Strided => Split(HeadPattern.Band, HeadPattern.Every, 0),
            AttentionKind.Fixed => Split(HeadPattern.Block, HeadPattern.Summary, config.SparseSummary),
            _ => throw new ArgumentOutOfRangeException(nameof(layer)),
        });
    }

    /// <summary>Bool mask (..., T, S): may a query at <paramref name="query"/> (..., T, 1) see a key at <paramref name="key"/> (1, S)?</summary>
    public static Tensor Allowed(HeadGroup g, Tensor query, Tensor key)
    {
        var causal = (key <= query).logical_and(key >= 0);
        return g.Pattern switch
        {
            HeadPattern.Dense => causal,
            HeadPattern.Band => causal.logical_and(key > query - g.Size),
            HeadPattern.Every => causal.logical_and((query - key).remainder(g.Size) == 0),
            HeadPattern.Block => causal.logical_and(key.div(g.Size, rounding_mode: RoundingMode.floor) == query.div(g.Size, rounding_mode: RoundingMode.floor)),
            HeadPattern.Summary => causal.logical_and((key.remainder(g.Size) >= g.Size - g.Summary).logical_or(key == query)),
            _ => throw new ArgumentOutOfRangeException(nameof(g)),
        };
    }

    /// <summary>The whole layer's mask (B or 1, nh, T, S) for query positions (B or 1, T) and key positions (S).</summary>
    public Tensor Mask(Tensor queryPositions, Tensor keyPositions)
    {
        var query = queryPositions.unsqueeze(-1).unsqueeze(1);                  // (B, 1, T, 1)
        var key = keyPositions.view(1, 1, 1, -1);                               // (1, 1, 1, S)
        return cat(Groups.Select(g => Allowed(g, query, key).expand(-1, g.Count, -1, -1)).ToArray(), 1);
    }
}
