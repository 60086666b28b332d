using FewShot.Data.Dedup;
using FewShot.Data.Shards;

namespace FewShot.Data.Mixture;

/// <summary>
/// Draws training sequences of context + 1 tokens (inputs and shifted targets) as GPT-3 did: each draw first picks a
/// source with probability equal to its weight (not its size), then takes that source's next chunk. A source's token
/// stream is cut into non-overlapping chunks (documents packed, separated by end-of-text); chunks are taken without
/// replacement in a shuffled order until the epoch ends, then reshuffled. Deterministic given the seed;
/// <see cref="GetState"/> and <see cref="Restore"/> resume exactly. Not thread-safe.
/// </summary>
public sealed class MixtureSampler
{
    sealed class Source(string name, double weight, MappedShard[] shards, long[] chunkStarts)
    {
        public string Name => name;
        public double Weight => weight;
        public long Chunks => chunkStarts[^1];
        public long Epoch, Position;
        public int[]? Order;     // the shuffle of the current epoch

        /// <summary>The shard and offset of chunk <paramref name="chunk"/> (chunks never straddle shards).</summary>
        public (MappedShard Shard, long Offset) Locate(long chunk, int length)
        {
            var s = Array.BinarySearch(chunkStarts, chunk);
            if (s < 0) s = ~s - 1;
            while (s + 1 < chunkStarts.Length && chunkStarts[s + 1] <= chunk) s++;
            return (shards[s], (chunk - chunkStarts[s]) * length);
        }
    }

    readonly Source[] sources;
    readonly double[] cumulative;
    readonly TokenShards data;
    ulong rng;
    long draws;

    /// <param name="weights">Per-source weights; default: the weights recorded in the manifest (the mixture's).</param>
    public MixtureSampler(TokenShards data, int context, ulong seed = 0, IReadOnlyDictionary<string, double>? weights = null)
    {
        if (context < 1) throw new ArgumentException($"context must be positive (got {context})");
        if (weights is not null) RequireKnownSources(data, weights);
        this.data = data;
        Context = context;
        Seed = seed;
        rng = seed;
        var list = new List<Source>();
        foreach (var totals in data.Manifest.Sources)
        {
            var weight = weights is null ? totals.Weight : weights.GetValueOrDefault(totals.Name);
            if (weight <= 0) continue;
            var shards = data.Of(totals.Name, "train").ToArray();
            var starts = new long[shards.Length + 1];
            for (var i = 0; i < shards.Length; i++) starts[i + 1] = starts[i] + shards[i].Length / (context + 1);
            if (starts[^1] == 0) continue;   // fewer tokens than one sequence: nothing to draw
            list.Add(new Source(totals.Name, weight, shards, starts));
        }
        if (list.Count == 0) throw new InvalidOperationException($"{data.Folder}: no source has weight > 0 and at least {context + 1} training tokens");
        sources = [.. list];
        var total = sources.Sum(s => s.Weight);
        cumulative = new double[sources.Length];
        double sum = 0;
        for (var i = 0; i < sources.Length; i++) cumulative[i] = (sum += sources[i].Weight / total);
        cumulative[^1] = 1;
    }

    /// <summary>Refuses weights (--weights) that name a source the folder does not have, listing the ones it has.</summary>
    public static void RequireKnownSources(TokenShards data, IReadOnlyDictionary<string, double> weights)
    {
        var names = data.Manifest.Sources.Select(s => s.Name).ToList();
        if (weights.Keys.FirstOrDefault(name => !names.Contains(name)) is { } unknown)
            throw new ArgumentException($"{data.Folder}: --weights names source '{unknown}', which the folder does not have (it has {string.Join(", ", names)})");
    }

    public int Context { get; }
    public ulong Seed { get; }
    /// <summary>The sources drawn from, with their normalised weights.</summary>
    public IReadOnlyList<(string Name, double Weight, long Chunks)> Sources => [.. sources.Select((s, i) => (s.Name, cumulative[i] - (i == 0 ? 0 : cumulative[i - 1]), s.Chunks))];

    /// <summary>The next sequence of <see cref="Context"/> + 1 tokens.</summary>
    public int[] Next() => Next(out _);

    public int[] Next(out string source)
    {
        var tokens = new int[Context + 1];
        source = NextInto(tokens);
        return tokens;
    }

    /// <summary>Fills <paramref name="buffer"/> (batch x (context + 1), row-major) with the next <paramref name="batch"/> sequences.</summary>
    public void NextBatch(int batch, long[] buffer)
    {
        var row = Context + 1;
        if (buffer.Length < batch * row) throw new ArgumentException($"the buffer holds {buffer.Length} tokens, a batch needs {batch * row}");
        var tokens = new int[row];
        for (var b = 0; b < batch; b++)
        {
            NextInto(tokens);
            for (var i = 0; i < row; i++) buffer[b * row + i] = tokens[i];
        }
    }

    string NextInto(Span<int> destination)
    {
        var u = NextUniform();
        var index = Array.FindIndex(cumulative, c => u < c);
        var source = sources[index < 0 ? sources.Length - 1 : index];
        if (source.Order is null || source.Position >= source.Chunks)
        {
            if (source.Order is not null) { source.Epoch++; source.Position = 0; }
            source.Order = Shuffle(source);
        }
        var (shard, offset) = source.Locate(source.Order[source.Position++], Context + 1);
        shard.Read(offset, destination);
        draws++;
        return source.Name;
    }

    int[] Shuffle(Source source)
    {
        var order = new int[checked((int)source.Chunks)];
        for (var i = 0; i < order.Length; i++) order[i] = i;
        var state = TextHash.Mix(Seed ^ TextHash.Of(source.Name) ^ TextHash.Mix((ulong)source.Epoch + 1));
        for (var i = order.Length - 1; i > 0; i--)
        {
            state = TextHash.Mix(state + 0x9E3779B97F4A7C15UL);
            var j = (int)(state % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    double NextUniform()
    {
        rng += 0x9E3779B97F4A7C15UL;
        return (TextHash.Mix(rng) >> 11) * (1.0 / (1UL << 53));
    }

    public SamplerState GetState() => new()
    {
        Seed = Seed, Context = Context, Rng = rng, Draws = draws,
        Sources = [.. sources.Select(s => new SourcePosition { Name = s.Name, Epoch = s.Epoch, Position = s.Order is null ? -1 : s.Position })],
    };

    /// <summary>Continues exactly where <paramref name="state"/> was taken (same data, seed and context required).</summary>
    public void Restore(SamplerState state)
    {
        if (state.Seed != Seed || state.Context != Context)
            throw new ArgumentException($"the state is for seed {state.Seed} and context {state.Context}; this sampler has seed {Seed} and context {Context}");
        foreach (var source in sources)
        {
            var position = state.Sources.FirstOrDefault(p => p.Name == source.Name)
                ?? throw new ArgumentException($"the state has no position for source '{source.Name}' (different data?)");
            source.Epoch = position.Epoch;
            source.Position = Math.Max(0, position.Position);
            source.Order = position.Position < 0 ? null : Shuffle(source);
        }
        rng = state.Rng;
        draws = state.Draws;
    }

    /// <summary>
    /// The held-out validation set as <paramref name="count"/> batches of (batch x (context + 1)) tokens, row-major:
    /// chunks of the val shards of every source, in a fixed order independent of the sampler's seed and position,
    /// so every call returns the same batches (cycling when the split holds fewer chunks).
    /// </summary>
    public IReadOnlyList<long[]> ValidationBatches(int count, int batch) => ValidationBatches(data, count, batch, Context);

    /// <summary>The same, with sequences of <paramref name="context"/> + 1 tokens.</summary>
    public IReadOnlyList<long[]> ValidationBatches(int count, int batch, int context) => ValidationBatches(data, count, batch, context);

    /// <summary>The same from <paramref name="data"/>, from the val shards of <paramref name="sources"/> only when given.</summary>
    public static IReadOnlyList<long[]> ValidationBatches(TokenShards data, int count, int batch, int context, IReadOnlySet<string>? sources = null)
    {
        var row = context + 1;
        var chunks = new List<(MappedShard Shard, long Offset)>();
        foreach (var shard in data.Shards.Where(s => s.Info.Split == "val" && (sources is null || sources.Contains(s.Info.Source))))
            for (long c = 0; c < shard.Length / row; c++) chunks.Add((shard, c * row));
        if (chunks.Count == 0) throw new InvalidOperationException($"{data.Folder}: the validation split holds no sequence of {row} tokens");
        var state = 0x5A11DA7EUL;
        for (var i = chunks.Count - 1; i > 0; i--)
        {
            state = TextHash.Mix(state + 0x9E3779B97F4A7C15UL);
            var j = (int)(state % (ulong)(i + 1));
            (chunks[i], chunks[j]) = (chunks[j], chunks[i]);
        }
        var batches = new List<long[]>(count);
        var tokens = new int[row];
        var next = 0;
        for (var b = 0; b < count; b++)
        {
            var buffer = new long[batch * row];
            for (var r = 0; r < batch; r++)
            {
                var (shard, offset) = chunks[next++ % chunks.Count];
                shard.Read(offset, tokens);
                for (var i = 0; i < row; i++) buffer[r * row + i] = tokens[i];
            }
            batches.Add(buffer);
        }
        return batches;
    }
}
