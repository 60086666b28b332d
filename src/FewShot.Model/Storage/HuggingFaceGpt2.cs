using System.Text.Json.Nodes;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;

namespace FewShot.Model.Storage;

/// <summary>
/// Hugging Face's GPT-2 layout: config.json (n_embd, n_layer, n_head, n_positions, ...) and model.safetensors whose
/// keys may carry a "transformer." prefix, may include lm_head.weight (tied, so equal to wte.weight), and whose
/// Conv1D weights are stored [in, out] (ours are nn.Linear [out, in]).
/// </summary>
public static class HuggingFaceGpt2
{
    static readonly string[] Conv1DWeights = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"];
    static readonly string[] IgnoredKeys = [".attn.bias", ".attn.masked_bias"]; // causal-mask buffers in old checkpoints

    static bool IsConv1D(string key) => Conv1DWeights.Any(w => key.EndsWith(w, StringComparison.Ordinal));

    /// <summary>Reads a Hugging Face GPT-2 folder into a model with the GPT-2 tokenizer.</summary>
    public static LoadedModel Import(string source)
    {
        var configPath = Path.Combine(source, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: missing (expected a Hugging Face GPT-2 folder)");
        var config = GptConfig.Load(configPath) with { AttentionTypes = [] }; // GPT-2 is all dense
        var weightsPath = Path.Combine(source, "model.safetensors");
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"{weightsPath}: missing");

        var raw = SafeTensors.Load(weightsPath);
        var tensors = new Dictionary<string, Tensor>();
        Tensor? head = null;
        foreach (var (key, value) in raw)
        {
            var name = key.StartsWith("transformer.", StringComparison.Ordinal) ? key["transformer.".Length..] : key;
            if (name == "lm_head.weight") { head = value; continue; }
            if (IgnoredKeys.Any(k => name.EndsWith(k, StringComparison.Ordinal))) { value.Dispose(); continue; }
            tensors[name] = (IsConv1D(name) ? value.t().contiguous() : value).to(ScalarType.Float32);
        }
        if (head is not null)
        {
            if (tensors.TryGetValue("wte.weight", out var wte) && !head.to(ScalarType.Float32).equal(wte).all().item<bool>())
                throw new InvalidDataException($"{weightsPath}: lm_head.weight differs from wte.weight; FewShot models tie them");
            head.Dispose();
        }

        var model = new Gpt(config);
        try { ModelFolder.LoadWeights(model, tensors, weightsPath); }
        catch { model.Dispose(); throw; }
        return new LoadedModel(model, TokenizerFor(config, configPath), source);
    }

    // GPT-2's own vocabulary gets its BPE; any other vocabulary has no tokenizer we could know, so ids only.
    static ITokenizer TokenizerFor(GptConfig config, string configPath)
    {
        if (config.VocabSize == 50257) return new Gpt2Tokenizer();
        var eos = JsonNode.Parse(File.ReadAllText(configPath))?["eos_token_id"]?.GetValue<int>() ?? -1;
        return new IdTokenizer(config.VocabSize, eos < config.VocabSize ? eos : -1);
    }

    /// <summary>Writes the model in Hugging Face's GPT-2 layout (Conv1D [in, out] weights, "transformer." prefix, tied head implied).</summary>
    public static void Export(Gpt model, string destination)
    {
        if (model.Config.AttentionTypes.Any(k => k != AttentionKind.Dense))
            throw new InvalidOperationException("Hugging Face's GPT-2 has only dense attention; this model has local layers");
        Directory.CreateDirectory(destination);
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, value) in model.state_dict())
            tensors["transformer." + name] = IsConv1D(name) ? value.detach().t().contiguous() : value;
        SafeTensors.Save(Path.Combine(destination, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });

        var c = model.Config;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["model_type"] = "gpt2",
            ["vocab_size"] = c.VocabSize,
            ["n_positions"] = c.ContextLength,
            ["n_ctx"] = c.ContextLength,
            ["n_embd"] = c.Embedding,
            ["n_layer"] = c.Layers,
            ["n_head"] = c.Heads,
            ["n_inner"] = null,
            ["activation_function"] = "gelu_new",
            ["resid_pdrop"] = c.Dropout,
            ["embd_pdrop"] = c.Dropout,
            ["attn_pdrop"] = c.Dropout,
            ["layer_norm_epsilon"] = c.LayerNormEpsilon,
            ["initializer_range"] = 0.02,
            ["bos_token_id"] = 50256,
            ["eos_token_id"] = 50256,
            ["tie_word_embeddings"] = true,
        };
        AtomicFile.WriteAllText(Path.Combine(destination, "config.json"), config.ToJsonString(GptConfig.Indented));
    }
}
