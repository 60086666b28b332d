using System.Text.Json;
using FewShot.Model.Generation;
using FewShot.Model.Inference;
using FewShot.Model.Storage;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

/// <summary>The fused decoder against the TorchSharp forward pass: same logits within float rounding, same greedy ids.</summary>
[Collection(ProcessWideSettings.Collection)]
public sealed class FusedDecoderTests
{
    internal static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("gpt2-tiny"), "expected.json"))).RootElement;

    static int[][] Rows(JsonElement e) => e.EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray();

    // The TorchSharp forward pass over a whole sequence: (T, V) per position.
    static float[][] ReferenceLogits(Gpt model, int[] ids)
    {
        using var _ = no_grad();
        using var logits = model.forward(tensor(ids.Select(i => (long)i).ToArray()).view(1, -1));
        var flat = logits.contiguous().data<float>().ToArray();
        var V = model.Config.VocabSize;
        return Enumerable.Range(0, ids.Length).Select(t => flat[(t * V)..((t + 1) * V)]).ToArray();
    }

    // The fused decoder fed one token at a time: the logits after each position.
    static float[][] StepLogits(FusedDecoder decoder, int[] ids)
    {
        using var cache = decoder.NewCache(1, ids.Length);
        return ids.Select(id => decoder.Step(cache, [id])).ToArray();
    }

    static float Worst(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FixtureLogitsMatchTheReferenceAtEveryPosition(bool vectors)
    {
        using var loaded = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"));
        var expected = Expected.GetProperty("logits").EnumerateArray()
            .Select(r => r.EnumerateArray().Select(t => t.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray()).ToArray();
        var path = new KernelPath(vectors);
        try
        {
            using var fused = new FusedDecoder(DecodeWeights.From(loaded.Model, WeightFormat.F32), threads: 2);
            var inputs = Rows(Expected.GetProperty("input_ids"));
            for (var b = 0; b < inputs.Length; b++)
            {
                var actual = StepLogits(fused, inputs[b]);
                for (var t = 0; t < actual.Length; t++)
                    Assert.True(Worst(expected[b][t], actual[t]) < 1e-4, $"row {b} position {t}: {Worst(expected[b][t], actual[t])}");
            }
            fused.Weights.Dispose();
        }
        finally { path.Dispose(); }
    }

    [Fact]
    public void FixtureGreedyContinuationMatchesTheReference()
    {
        using var loaded = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"));
        var greedy = Expected.GetProperty("greedy");
        var prompt = greedy.GetProperty("prompt").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var continuation = greedy.GetProperty("continuation").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        using var fused = FusedDecoding.From(loaded.Model, WeightFormat.F32, threads: 2);
        var result = new TextGenerator(loaded.Model, loaded.Tokenizer, fused)
            .Generate([prompt], new SamplingOptions { MaxNewTokens = continuation.Length, Temperature = 0 })[0];
        Assert.Equal(continuation, result.Ids);
    }

    public static TheoryData<string> Architectures => ["dense", "local", "strided-heads", "fixed-heads", "strided-layers", "fixed-layers"];

    static Gpt Architecture(string name)
    {
        manual_seed(99);
        var kinds = name switch
        {
            "dense" => Array.Empty<AttentionKind>(),
            "local" => [AttentionKind.Local, AttentionKind.Dense, AttentionKind.Local],
            "strided-heads" or "strided-layers" => [AttentionKind.Strided, AttentionKind.Strided, AttentionKind.Dense],
            _ => [AttentionKind.Fixed, AttentionKind.Fixed, AttentionKind.Local],
        };
        var model = new Gpt(new GptConfig
        {
            VocabSize = 61, ContextLength = 160, Layers = 3, Heads = 4, Embedding = 48, AttentionTypes = kinds,
            Window = 10, SparseStride = 7, SparseSummary = 2, SparseSplit = name.EndsWith("-layers", StringComparison.Ordinal) ? "layers" : "heads",
        });
        model.eval();
        return model;
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void EveryArchitectureMatchesTheTorchForwardTokenByTokenAndInChunks(string name)
    {
        using var model = Architecture(name);
        var ids = Enumerable.Range(0, 150).Select(i => (i * 37 + 11) % 61).ToArray();
        var reference = ReferenceLogits(model, ids);
        using var fused = new FusedDecoder(DecodeWeights.From(model, WeightFormat.F32), threads: 2);

        var stepped = StepLogits(fused, ids); // the local ring wraps many times (window 10, 73 slots)
        for (var t = 0; t < ids.Length; t++)
            Assert.True(Worst(reference[t], stepped[t]) < 1e-4, $"{name} position {t}: {Worst(reference[t], stepped[t])}");

        // A prompt of 130 tokens goes through in chunks of 64 (the ring holds a chunk's earliest window), then steps.
        using var cache = fused.NewCache(1, ids.Length);
        var last = fused.Prefill(cache, 0, ids.AsSpan(0, 130));
        Assert.True(Worst(reference[129], last) < 1e-4, $"{name} after the prefill: {Worst(reference[129], last)}");
        for (var t = 130; t < ids.Length; t++)
        {
            var logits = fused.Step(cache, [ids[t]]);
            Assert.True(Worst(reference[t], logits) < 1e-4, $"{name} position {t} after the prefill: {Worst(reference[t], logits)}");
        }
        fused.Weights.Dispose();
    }

    [Fact]
    public void MatricesLargeEnoughToSplitOverTwoThreadsGiveTheSameLogits()
    {
        manual_seed(5);
        using var model = new Gpt(new GptConfig
        {
            VocabSize = 700, ContextLength = 96, Layers = 2, Heads = 4, Embedding = 256, // c_fc is 1 MB: split over the team
            AttentionTypes = [AttentionKind.Local, AttentionKind.Strided], Window = 12, SparseStride = 8,
        });
        model.eval();
        var ids = Enumerable.Range(0, 90).Select(i => (i * 131 + 7) % 700).ToArray();
        var reference = ReferenceLogits(model, ids);
        using var fused = new FusedDecoder(DecodeWeights.From(model, WeightFormat.F32), threads: 2);
        var stepped = StepLogits(fused, ids);
        for (var t = 0; t < ids.Length; t++)
            Assert.True(Worst(reference[t], stepped[t]) < 1e-4, $"position {t}: {Worst(reference[t], stepped[t])}");
        fused.Weights.Dispose();
    }

    [Fact]
    public void WeightsLaidOutForTwoThreadsGiveTheSameLogitsAsForOne()
    {
        manual_seed(5);
        using var model = new Gpt(new GptConfig { VocabSize = 700, ContextLength = 96, Layers = 2, Heads = 4, Embedding = 256 }); // c_fc is 1 MB: split
        model.eval();
        var ids = Enumerable.Range(0, 40).Select(i => (i * 131 + 7) % 700).ToArray();
        using var one = new FusedDecoder(DecodeWeights.From(model, WeightFormat.F32, streams: 1), threads: 2);
        using var two = new FusedDecoder(DecodeWeights.From(model, WeightFormat.F32, streams: 2), threads: 2);
        var (a, b) = (StepLogits(one, ids), StepLogits(two, ids));
        for (var t = 0; t < ids.Length; t++) Assert.Equal(a[t], b[t]); // the same sums row by row: bit for bit
        one.Weights.Dispose();
        two.Weights.Dispose();
    }

    [Theory]
    [InlineData(2)] [InlineData(3)] [InlineData(4)]
    public void WorkerTeamCoversEveryIndexOnceAndReportsFailures(int threads)
    {
        using var team = new WorkerTeam(threads);
        for (var round = 0; round < 200; round++)
        {
            var hits = new int[1000 + round];
            team.For(hits.Length, (first, end, _) => { for (var i = first; i < end; i++) Interlocked.Increment(ref hits[i]); }, grain: 7);
            Assert.All(hits, h => Assert.Equal(1, h));
        }
        var e = Assert.Throws<AggregateException>(() => team.For(64, (first, _, _) => { if (first > 0) throw new InvalidOperationException("boom"); }));
        Assert.Equal("boom", e.InnerException!.Message);
    }

    [Fact]
    public void RaggedRowsDecodeTogetherAsTheyWouldAlone()
    {
        using var model = Architecture("local");
        int[][] prompts = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [40, 41], [7, 7, 7, 7, 7, 7]];
        using var fused = new FusedDecoder(DecodeWeights.From(model, WeightFormat.F32), threads: 2);
        using var cache = fused.NewCache(3, 64);
        for (var r = 0; r < prompts.Length; r++) fused.Prefill(cache, r, prompts[r]);
        int[] next = [13, 42, 8];
        var batched = fused.Step(cache, next);
        for (var r = 0; r < prompts.Length; r++)
        {
            var alone = ReferenceLogits(model, [.. prompts[r], next[r]])[^1];
            Assert.True(Worst(alone, batched[(r * 61)..((r + 1) * 61)]) < 1e-4, $"row {r}");
        }
        // Moving a row keeps its cache: row 0 continues in row 2's place.
        cache.CopyRow(0, 2);
        var moved = fused.Step(cache, [0, 0, 14]);
        var expected = ReferenceLogits(model, [.. prompts[0], 13, 14])[^1];
        Assert.True(Worst(expected, moved[(2 * 61)..]) < 1e-4);
        fused.Weights.Dispose();
    }

    [Theory]
    [InlineData(WeightFormat.F32)]
    [InlineData(WeightFormat.Q8_0)]
    public void SevenRowsInOnePassOverTheWeightsEqualEachRowAlone(WeightFormat format)
    {
        // Seven rows take the 8-wide kernels (inputs 5-7 of a block), one row the single-dot path.
        using var model = Architecture("dense");
        using var fused = new FusedDecoder(DecodeWeights.From(model, format), threads: 2);
        int[][] prompts = [.. Enumerable.Range(0, 7).Select(r => Enumerable.Range(0, 3 + 2 * r).Select(i => (i * 7 + r) % 61).ToArray())];
        int[] next = [.. Enumerable.Range(0, 7).Select(r => 10 + r)];
        using var together = fused.NewCache(7, 64);
        for (var r = 0; r < prompts.Length; r++) fused.Prefill(together, r, prompts[r]);
        var batched = fused.Step(together, next);
        for (var r = 0; r < prompts.Length; r++)
        {
            using var alone = fused.NewCache(1, 64);
            fused.Prefill(alone, 0, prompts[r]);
            Assert.True(Worst(fused.Step(alone, [next[r]]), batched[(r * 61)..((r + 1) * 61)]) < 1e-4, $"row {r}");
        }
        fused.Weights.Dispose();
    }

    [Fact]
    public void ASecondThreadDecodingAtTheSameTimeIsRefusedNotCorrupted()
    {
        using var model = Architecture("dense");
        using var fused = new FusedDecoder(DecodeWeights.From(model, WeightFormat.F32), threads: 1);
        var prompt = Enumerable.Range(0, 150).Select(i => i % 61).ToArray();
        var refused = 0;
        var other = new List<Exception>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        // Two threads decode with one decoder until one of them has been turned away (they overlap within milliseconds).
        void Decode()
        {
            while (Volatile.Read(ref refused) == 0 && DateTime.UtcNow < deadline)
            {
                using var cache = fused.NewCache(1, 160);
                try { fused.Prefill(cache, 0, prompt); }
                catch (InvalidOperationException e) when (e.Message.Contains("not thread-safe")) { Interlocked.Increment(ref refused); }
                catch (Exception e) { lock (other) other.Add(e); return; }
            }
        }
        var threads = new[] { new Thread(Decode), new Thread(Decode) };
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        Assert.Empty(other);
        Assert.True(refused > 0, "the two threads never overlapped");
        // After the refusal the decoder still works for its one thread.
        using var after = fused.NewCache(1, 160);
        Assert.Equal(61, fused.Prefill(after, 0, [1, 2, 3]).Length);
        fused.Weights.Dispose();
    }

    [Fact]
    public void GeneratorThroughEitherDecoderGivesTheSameGreedyText()
    {
        using var model = Architecture("fixed-heads");
        var tokenizer = new Tokenization.IdTokenizer(61, -1);
        var options = new SamplingOptions { MaxNewTokens = 40, Temperature = 0, StopAtEndOfText = false };
        int[][] prompts = [[3, 1, 4, 1, 5], [9, 2, 6], [5, 3, 5, 8, 9, 7, 9]];
        var torch = new TextGenerator(model, tokenizer).Generate(prompts, options);
        using var fused = FusedDecoding.From(model, WeightFormat.F32, threads: 2);
        var ours = new TextGenerator(model, tokenizer, fused).Generate(prompts, options);
        Assert.Equal(torch.Select(c => c.Ids), ours.Select(c => c.Ids));
    }

    [Fact]
    public void TokensOutsideTheVocabularyOrCacheAreRefused()
    {
        using var model = Architecture("dense");
        using var fused = new FusedDecoder(DecodeWeights.From(model, WeightFormat.F32), threads: 1);
        using var cache = fused.NewCache(1, 4);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() => fused.Step(cache, [61])).Message);
        fused.Prefill(cache, 0, [1, 2, 3, 4]);
        Assert.Contains("holds 4 positions", Assert.Throws<InvalidOperationException>(() => fused.Step(cache, [5])).Message);
        fused.Weights.Dispose();
    }
}
