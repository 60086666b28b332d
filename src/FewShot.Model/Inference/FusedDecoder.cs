using System.Runtime.CompilerServices;

namespace FewShot.Model.Inference;

/// <summary>
/// GPT inference outside libtorch: the forward pass of <see cref="Gpt"/> for a handful of tokens at a time (a batch
/// of sequences' next tokens, or a chunk of one prompt), with every weight matrix streamed once per call and split by
/// output rows over a <see cref="WorkerTeam"/>. Batch-1 decoding is bound by weight bytes over memory bandwidth; the
/// TorchSharp path adds ~20 us of call and allocation overhead to each of its ~15 operations per layer, which on
/// small models costs more than the arithmetic (docs/performance.md).
/// </summary>
/// <remarks>
/// Not thread-safe by design: the activations are buffers of the decoder, so one thread decodes with it at a time
/// (the server's one scheduler thread; a generator's caller). A second thread entering a forward pass while one runs
/// gets an <see cref="InvalidOperationException"/> instead of corrupt logits: give each decoding thread its own
/// decoder (weights may be snapshotted once per decoder).
/// </remarks>
public sealed unsafe class FusedDecoder : IDisposable
{
    /// <summary>Most tokens one forward call processes; longer prompts go through in chunks.</summary>
    public const int Chunk = 64;

    /// <summary>
    /// Loops that read less than this run on one thread: splitting them saves microseconds on a quiet machine and can
    /// cost a scheduler time slice on a busy one (the 0.8M-parameter Shakespeare model has no matrix this large).
    /// </summary>
    const long MinParallelBytes = 256 * 1024;

    /// <summary>
    /// Rows of a matrix product go to threads in multiples of this: an F32 panel group (two Q8_0 groups), so that no
    /// thread computes a group another thread also needs (see WeightArena's layout).
    /// </summary>
    internal const int RowGrain = PanelKernels.GroupRows;

    readonly DecodeWeights weights;
    readonly WorkerTeam team;
    readonly int C, heads, hs, vocab;
    readonly float eps;
    readonly LayerPattern[] patterns;
    // Activations for up to Chunk tokens: residual x, normalised h, qkv, attention output, MLP hidden, logits.
    readonly AlignedBuffer<float> x, h, qkv, att, hidden, logits;
    readonly QuantizedInput quantized; // a Q8_0 product's input in 8-bit blocks: up to (Chunk, 4C)
    readonly AlignedBuffer<float>[] scores; // one (n_ctx) score buffer per worker
    readonly AlignedBuffer<long>[] visible; // one (n_ctx) buffer of attended positions per worker
    readonly HeadGroup[][] groupOf; // [layer][head]
    readonly int[] rowOf = new int[Chunk], tokenOf = new int[Chunk];
    readonly long[] positionOf = new long[Chunk];
    readonly Action<int, int, int> matMulBody, attentionBody, headBody;
    // One loop per layer for c_attn and attention together (each head's q, k, v rows, then its attention), for Q8_0
    // weights whose head rows are whole groups of the Q8_0 layout. Not for F32: its c_attn streams from memory, and a
    // head's q, k and v rows are three pieces C^2 * 4 bytes apart, which the prefetchers stream worse than one contiguous
    // half (small shape, 2 threads: 0.83-0.85x llama.cpp fused, against 1.05x for the old build's two loops in
    // alternating runs).
    readonly bool fuseHeads;

    // Arguments of the loop running on the team (fields, so that the loop bodies are allocated once).
    WeightMatrix? mm;
    float* mmX, mmY, mmBias;
    int mmCount, mmStride;
    bool mmAccumulate, mmGelu; // mmGelu: GELU on the outputs, by the thread that wrote them
    DecodeCache? attCache;
    BlockWeights? attBlock;
    int attLayer, attCount;
    int running; // 1 while a forward pass is running (the guard against a second thread)

    public FusedDecoder(DecodeWeights weights, int threads)
    {
        this.weights = weights;
        var config = weights.Config;
        (C, heads, hs, vocab, eps) = (config.Embedding, config.Heads, config.HeadSize, config.VocabSize, (float)config.LayerNormEpsilon);
        patterns = Enumerable.Range(0, config.Layers).Select(i => LayerPattern.For(config, i)).ToArray();
        team = new WorkerTeam(threads);
        x = new AlignedBuffer<float>(Chunk * C);
        h = new AlignedBuffer<float>(Chunk * C);
        qkv = new AlignedBuffer<float>(Chunk * 3 * C);
        att = new AlignedBuffer<float>(Chunk * C);
        hidden = new AlignedBuffer<float>(Chunk * 4 * C);
        logits = new AlignedBuffer<float>((long)Chunk * vocab);
        quantized = new QuantizedInput(Chunk * 4 * C);
        groupOf = patterns.Select(pattern => Enumerable.Range(0, heads).Select(head => pattern.Groups.First(g => head >= g.First && head < g.First + g.Count)).ToArray()).ToArray();
        scores = Enumerable.Range(0, team.Threads).Select(_ => new AlignedBuffer<float>(config.ContextLength)).ToArray();
        visible = Enumerable.Range(0, team.Threads).Select(_ => new AlignedBuffer<long>(config.ContextLength)).ToArray();
        matMulBody = (first, end, _) =>
        {
            mm!.Multiply(mmX, quantized, mmCount, mmY, mmStride, mmBias, mmAccumulate, first, end);
            if (mmGelu) for (var t = 0; t < mmCount; t++) Kernels.Gelu(mmY + (long)t * mmStride + first, end - first);
        };
        attentionBody = (first, end, part) => { for (var task = first; task < end; task++) Attend(task / heads, task % heads, scores[part].Pointer, visible[part].Pointer); };
        headBody = (first, end, part) => { for (var head = first; head < end; head++) ProjectAndAttend(head, part); };
        fuseHeads = hs % Q8Kernels.GroupRows == 0 && weights.Blocks.All(b => b.Attn.ReadsQuantizedInput);
    }

    public GptConfig Config => weights.Config;
    public DecodeWeights Weights => weights;
    public int Threads => team.Threads;

    /// <summary>A cache for this model's shape.</summary>
    public DecodeCache NewCache(int batch, int capacity) => new(weights.Config, batch, capacity);

    /// <summary>
    /// Feeds tokens[r] to row r for r in [0, tokens.Length), each at its row's own position (rows may be ragged),
    /// and returns the next-token logits (rows, vocab) as a new array.
    /// </summary>
    public float[] Step(DecodeCache cache, ReadOnlySpan<int> tokens)
    {
        var result = new float[(long)tokens.Length * vocab];
        Enter();
        try
        {
            for (var first = 0; first < tokens.Length; first += Chunk)
            {
                var n = Math.Min(Chunk, tokens.Length - first);
                for (var i = 0; i < n; i++) (rowOf[i], tokenOf[i], positionOf[i]) = (first + i, tokens[first + i], cache.Length(first + i));
                Run(cache, n, logitsFrom: 0);
                new ReadOnlySpan<float>(logits.Pointer, n * vocab).CopyTo(result.AsSpan(first * vocab));
            }
        }
        finally { Leave(); }
        return result;
    }

    /// <summary>Appends a prompt to one row (in chunks) and returns the logits (vocab) after its last token.</summary>
    public float[] Prefill(DecodeCache cache, int row, ReadOnlySpan<int> tokens)
    {
        if (tokens.Length == 0) throw new ArgumentException("an empty prompt has no next-token logits", nameof(tokens));
        Enter();
        try
        {
            for (var first = 0; first < tokens.Length; first += Chunk)
            {
                var n = Math.Min(Chunk, tokens.Length - first);
                var start = cache.Length(row);
                for (var i = 0; i < n; i++) (rowOf[i], tokenOf[i], positionOf[i]) = (row, tokens[first + i], start + i);
                Run(cache, n, logitsFrom: first + n == tokens.Length ? n - 1 : n); // only the prompt's last token needs logits
            }
            return new ReadOnlySpan<float>(logits.Pointer, vocab).ToArray();
        }
        finally { Leave(); }
    }

    // Claims the decoder for one call of Step or Prefill; a second thread gets an error instead of sharing the buffers.
    void Enter()
    {
        if (Interlocked.Exchange(ref running, 1) == 1)
            throw new InvalidOperationException("this fused decoder is already decoding on another thread; it is not thread-safe: give each decoding thread its own decoder");
    }

    void Leave() => Volatile.Write(ref running, 0);

    // The forward pass of n tokens (rowOf, tokenOf, positionOf); logits (n - logitsFrom, vocab) for tokens logitsFrom.. only.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Run(DecodeCache cache, int n, int logitsFrom)
    {
        for (var i = 0; i < n; i++)
        {
            if (tokenOf[i] < 0 || tokenOf[i] >= vocab) throw new ArgumentException($"token id {tokenOf[i]} is outside the vocabulary [0, {vocab})");
            if (positionOf[i] >= cache.Capacity) throw new InvalidOperationException($"the KV cache holds {cache.Capacity} positions; position {positionOf[i]} does not fit");
        }
        // x = wte[token] + wpe[position]: (n, C)
        for (var i = 0; i < n; i++)
        {
            var xi = x.Pointer + i * C;
            weights.TokenEmbedding.Row(tokenOf[i], xi);
            var pe = weights.PositionEmbedding.Pointer + positionOf[i] * C;
            for (var c = 0; c < C; c++) xi[c] += pe[c];
        }

        for (var layer = 0; layer < weights.Blocks.Length; layer++)
        {
            var b = weights.Blocks[layer];
            // x = x + c_proj(attention(c_attn(ln_1(x))))
            Norm(b.Ln1Gain, b.Ln1Bias, n);
            (attCache, attBlock, attLayer, attCount) = (cache, b, layer, n);
            var attended = 0L;
            for (var i = 0; i < n; i++) attended += Math.Min(positionOf[i] + 1, cache.Slots[layer]);
            if (fuseHeads)
            {
                if (b.Attn.ReadsQuantizedInput) quantized.Quantize(h.Pointer, n, C);
                team.For(heads, headBody, minimumUnits: b.Attn.Bytes + attended * C * 8 < MinParallelBytes ? int.MaxValue : 2); // (n, C), heads side by side
            }
            else
            {
                MatMul(b.Attn, h.Pointer, n, qkv.Pointer, 3 * C, b.AttnBias, accumulate: false); // (n, 3C): q | k | v
                for (var i = 0; i < n; i++)
                    for (var head = 0; head < heads; head++) StoreKeyValue(i, head);
                team.For(n * heads, attentionBody, minimumUnits: attended * C * 8 < MinParallelBytes ? int.MaxValue : 2); // (n, C), heads side by side
            }
            (attCache, attBlock) = (null, null);
            MatMul(b.AttnProj, att.Pointer, n, x.Pointer, C, b.AttnProjBias, accumulate: true);

            // x = x + c_proj(gelu(c_fc(ln_2(x))))
            Norm(b.Ln2Gain, b.Ln2Bias, n);
            MatMul(b.Fc, h.Pointer, n, hidden.Pointer, 4 * C, b.FcBias, accumulate: false, gelu: true); // (n, 4C)
            MatMul(b.MlpProj, hidden.Pointer, n, x.Pointer, C, b.MlpProjBias, accumulate: true);
        }

        for (var i = 0; i < n; i++) cache.Advance(rowOf[i], 1);
        // logits = ln_f(x) wte^T: (n - from, vocab)
        var from = logitsFrom;
        if (from == n) return;
        for (var i = from; i < n; i++) Kernels.LayerNorm(x.Pointer + i * C, h.Pointer + (i - from) * C, C, weights.LnFGain.Pointer, weights.LnFBias is null ? null : weights.LnFBias.Pointer, eps);
        MatMul(weights.TokenEmbedding, h.Pointer, n - from, logits.Pointer, vocab, null, accumulate: false);
    }

    void Norm(AlignedBuffer<float> gain, AlignedBuffer<float>? bias, int n)
    {
        for (var i = 0; i < n; i++) Kernels.LayerNorm(x.Pointer + i * C, h.Pointer + i * C, C, gain.Pointer, bias is null ? null : bias.Pointer, eps);
    }

    // y (count, stride) (+)= x (count, In) W^T + bias (then GELU), the matrix's rows split over the team.
    void MatMul(WeightMatrix m, float* input, int count, float* output, int stride, AlignedBuffer<float>? bias, bool accumulate, bool gelu = false)
    {
        if (m.ReadsQuantizedInput) quantized.Quantize(input, count, m.In);
        mm = m;
        mmX = input;
        mmY = output;
        mmBias = bias is null ? null : bias.Pointer;
        (mmCount, mmStride, mmAccumulate, mmGelu) = (count, stride, accumulate, gelu);
        team.For(m.Out, matMulBody, grain: RowGrain, minimumUnits: m.Bytes < MinParallelBytes ? int.MaxValue : 2);
        mm = null;
    }

    // One head for all attCount tokens: its q, k and v rows of c_attn (hs rows each of (n, 3C)), its keys and values
    // into the cache, then its attention. Token i sees earlier tokens of the same call through the cache.
    void ProjectAndAttend(int head, int part)
    {
        var b = attBlock!;
        for (var section = 0; section < 3; section++) // q, k, v
            b.Attn.Multiply(h.Pointer, quantized, attCount, qkv.Pointer, 3 * C, b.AttnBias is null ? null : b.AttnBias.Pointer, false,
                section * C + head * hs, section * C + (head + 1) * hs);
        for (var i = 0; i < attCount; i++) StoreKeyValue(i, head);
        for (var i = 0; i < attCount; i++) Attend(i, head, scores[part].Pointer, visible[part].Pointer);
    }

    // Token i's key and value of one head, from qkv into the cache at its row and position.
    void StoreKeyValue(int i, int head)
    {
        var cache = attCache!;
        var source = qkv.Pointer + i * 3 * C + head * hs;
        new ReadOnlySpan<float>(source + C, hs).CopyTo(new Span<float>(cache.Key(attLayer, rowOf[i], head, positionOf[i]), hs));
        new ReadOnlySpan<float>(source + 2 * C, hs).CopyTo(new Span<float>(cache.Value(attLayer, rowOf[i], head, positionOf[i]), hs));
    }

    // Token i, one head: softmax(q k^T / sqrt(hs)) v over the positions this head's pattern lets it see.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Attend(int i, int head, float* scoreBuffer, long* positions)
    {
        var cache = attCache!;
        var (row, p) = (rowOf[i], positionOf[i]);
        var count = Visible(groupOf[attLayer][head], p, positions);
        // Positions -> float offsets into this row and head's (slots, hs) keys and values (a local layer's ring wraps;
        // the division only happens where it does).
        var slots = cache.Slots[attLayer];
        for (var k = 0; k < count; k++) positions[k] = (positions[k] < slots ? positions[k] : positions[k] % slots) * hs;
        var keys = cache.Key(attLayer, row, head, 0);
        var values = cache.Value(attLayer, row, head, 0);
        var q = qkv.Pointer + i * 3 * C + head * hs;
        var scale = 1f / MathF.Sqrt(hs);
        var max = float.NegativeInfinity;
        for (var k = 0; k < count; k++)
        {
            var s = Kernels.Dot(q, keys + positions[k], hs) * scale;
            scoreBuffer[k] = s;
            max = Math.Max(max, s);
        }
        var inverse = 1f / Kernels.ExpInPlace(scoreBuffer, count, max);
        var output = att.Pointer + i * C + head * hs;
        new Span<float>(output, hs).Clear();
        for (var k = 0; k < count; k++) Kernels.Axpy(scoreBuffer[k] * inverse, values + positions[k], output, hs);
    }

    /// <summary>
    /// Writes the positions a query at position p of this head group attends to (the mask of
    /// <see cref="LayerPattern.Allowed"/>) and returns how many there are.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int Visible(HeadGroup g, long p, long* into)
    {
        var count = 0;
        switch (g.Pattern)
        {
            case HeadPattern.Dense:
                for (long j = 0; j <= p; j++) into[count++] = j;
                break;
            case HeadPattern.Band:
                for (var j = Math.Max(0, p - g.Size + 1); j <= p; j++) into[count++] = j;
                break;
            case HeadPattern.Every:
                for (var j = p % g.Size; j <= p; j += g.Size) into[count++] = j;
                break;
            case HeadPattern.Block:
                for (var j = p - p % g.Size; j <= p; j++) into[count++] = j;
                break;
            case HeadPattern.Summary:
                for (long start = 0; start <= p; start += g.Size)
                    for (var j = start + g.Size - g.Summary; j < start + g.Size && j <= p; j++) into[count++] = j;
                if (p % g.Size < g.Size - g.Summary) into[count++] = p;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(g));
        }
        return count;
    }

    public void Dispose()
    {
        team.Dispose();
        foreach (var b in new[] { x, h, qkv, att, hidden, logits }.Concat(scores)) b.Dispose();
        foreach (var b in visible) b.Dispose();
        quantized.Dispose();
    }
}
