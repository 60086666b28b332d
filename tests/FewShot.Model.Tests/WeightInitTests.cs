using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

/// <summary>The two initialisations of a new model: GPT-2's (the default) and a plain PyTorch model's.</summary>
public sealed class WeightInitTests
{
    static Gpt Create(string init)
    {
        manual_seed(42);
        return new Gpt(new GptConfig { VocabSize = 100, ContextLength = 64, Layers = 4, Heads = 4, Embedding = 128, WeightInit = init });
    }

    static Dictionary<string, Tensor> Weights(Gpt model) => model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter.detach());

    static double Std(Tensor t) => t.std().item<float>();

    [Fact]
    public void Gpt2ScalesTheResidualProjectionsAndZeroesTheBiases()
    {
        using var model = Create(WeightInit.Gpt2);
        var w = Weights(model);
        Assert.Equal(0.02, Std(w["h.0.attn.c_attn.weight"]), 0.002);
        Assert.Equal(0.02, Std(w["wte.weight"]), 0.002);
        Assert.Equal(0.02 / Math.Sqrt(8), Std(w["h.1.attn.c_proj.weight"]), 0.0007);
        Assert.Equal(0.02 / Math.Sqrt(8), Std(w["h.1.mlp.c_proj.weight"]), 0.0007);
        foreach (var (name, t) in w.Where(kv => kv.Key.EndsWith(".bias")))
            Assert.True(t.abs().max().item<float>() == 0, name);
    }

    [Fact]
    public void PyTorchDrawsEveryMatrixAlikeAndUniformBiases()
    {
        using var model = Create(WeightInit.PyTorch);
        var w = Weights(model);
        foreach (var name in new[] { "wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.1.attn.c_proj.weight", "h.2.mlp.c_fc.weight", "h.3.mlp.c_proj.weight" })
            Assert.Equal(0.02, Std(w[name]), 0.002);
        // nn.Linear's default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), standard deviation bound/sqrt(3).
        foreach (var (name, fanIn) in new[] { ("h.0.attn.c_attn.bias", 128), ("h.0.attn.c_proj.bias", 128), ("h.0.mlp.c_fc.bias", 128), ("h.0.mlp.c_proj.bias", 512) })
        {
            var bound = 1 / Math.Sqrt(fanIn);
            Assert.True(w[name].abs().max().item<float>() <= bound, name);
            Assert.Equal(bound / Math.Sqrt(3), Std(w[name]), bound * 0.15);
        }
        // LayerNorms as in both: gain 1, bias 0.
        Assert.True(w["h.0.ln_1.weight"].eq(1).all().item<bool>());
        Assert.True(w["ln_f.bias"].eq(0).all().item<bool>());
    }

    [Fact]
    public void TheSettingRoundTripsThroughConfigJsonAndDefaultsToGpt2()
    {
        var config = new GptConfig { WeightInit = WeightInit.PyTorch };
        Assert.Equal(WeightInit.PyTorch, GptConfig.FromJson(config.ToJson(), "config.json").WeightInit);
        Assert.Equal(WeightInit.Gpt2, GptConfig.FromJson(JsonNode.Parse("""{"n_layer": 2, "n_head": 2, "n_embd": 8}""")!, "old.json").WeightInit);
        var e = Assert.Throws<FormatException>(() => GptConfig.FromJson(JsonNode.Parse("""{"n_layer": 2, "n_head": 2, "n_embd": 8, "weight_init": "xavier"}""")!, "config.json"));
        Assert.Contains("'weight_init'", e.Message);
        Assert.Contains("'xavier'", e.Message);
    }
}
