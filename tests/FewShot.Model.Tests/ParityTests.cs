using System.Text.Json;
using FewShot.Model.Generation;
using FewShot.Model.Storage;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

/// <summary>The model against a reference PyTorch GPT-2 on random weights (tests/fixtures/gpt2-tiny).</summary>
public sealed class ParityTests
{
    static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("gpt2-tiny"), "expected.json"))).RootElement;

    static long[,] Matrix(JsonElement e)
    {
        var rows = e.EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt64()).ToArray()).ToArray();
        var m = new long[rows.Length, rows[0].Length];
        for (var i = 0; i < rows.Length; i++) for (var j = 0; j < rows[0].Length; j++) m[i, j] = rows[i][j];
        return m;
    }

    [Fact]
    public void ImportedFixtureReproducesReferenceLogitsAndLoss()
    {
        using var loaded = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"));
        loaded.Model.eval();
        using var _ = no_grad();
        var ids = tensor(Matrix(Expected.GetProperty("input_ids")));
        var logits = loaded.Model.forward(ids);
        var expected = Expected.GetProperty("logits").EnumerateArray()
            .SelectMany(r => r.EnumerateArray().SelectMany(t => t.EnumerateArray().Select(x => x.GetSingle()))).ToArray();
        var actual = logits.contiguous().data<float>().ToArray();
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst < 1e-4, $"largest logit difference {worst}");

        var loss = loaded.Model.Loss(ids, tensor(Matrix(Expected.GetProperty("targets")))).item<float>();
        Assert.Equal(Expected.GetProperty("mean_cross_entropy").GetDouble(), loss, 1e-4);
    }

    [Fact]
    public void GreedyContinuationMatchesReference()
    {
        using var loaded = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"));
        var greedy = Expected.GetProperty("greedy");
        var prompt = greedy.GetProperty("prompt").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var continuation = greedy.GetProperty("continuation").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var result = new TextGenerator(loaded.Model, loaded.Tokenizer)
            .Generate([prompt], new SamplingOptions { MaxNewTokens = continuation.Length, Temperature = 0 })[0];
        Assert.Equal(continuation, result.Ids);
    }

    [Fact]
    public void ExportThenImportIsBitwiseLossless()
    {
        using var folder = new TempFolder();
        using var original = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"));
        HuggingFaceGpt2.Export(original.Model, folder.Path);
        using var again = HuggingFaceGpt2.Import(folder.Path);
        var a = original.Model.state_dict();
        var b = again.Model.state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (name, tensor) in a) Assert.True(tensor.equal(b[name]).all().item<bool>(), name);
        // And the exported safetensors bytes are identical to the source's tensors (Conv1D layout restored).
        var source = SafeTensors.Load(Path.Combine(TestPaths.Fixture("gpt2-tiny"), "model.safetensors"));
        var exported = SafeTensors.Load(Path.Combine(folder.Path, "model.safetensors"));
        foreach (var (name, tensor) in source)
        {
            var key = name.StartsWith("transformer.", StringComparison.Ordinal) ? name : "transformer." + name;
            if (name == "lm_head.weight") continue;
            Assert.True(tensor.equal(exported[key]).all().item<bool>(), name);
        }
    }
}
