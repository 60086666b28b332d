using System.Text.Json;
using System.Text.Json.Nodes;

namespace FewShot.Model;

/// <summary>
/// The shape of a GPT model. Serialised as the model folder's <c>config.json</c>, with key names that follow
/// Hugging Face's GPT-2 config (<c>n_embd</c>, <c>n_layer</c>, ...) plus GPT-Neo's <c>attention_types</c>.
/// </summary>
public sealed record GptConfig
{
    public int VocabSize { get; init; } = 50257;
    /// <summary>n_ctx: the longest sequence the model reads (the number of learned positions).</summary>
    public int ContextLength { get; init; } = 1024;
    public int Layers { get; init; } = 12;
    public int Heads { get; init; } = 12;
    /// <summary>d_model.</summary>
    public int Embedding { get; init; } = 768;
    public double Dropout { get; init; }
    /// <summary>Biases in the linear layers and LayerNorms (GPT-2 has them).</summary>
    public bool Bias { get; init; } = true;
    public double LayerNormEpsilon { get; init; } = 1e-5;
    /// <summary>
    /// How a new model's weights are drawn (<see cref="WeightInit"/>): "gpt2" (GPT-2's and nanoGPT's: N(0, 0.02),
    /// residual projections N(0, 0.02 / sqrt(2 n_layer)), zero biases) or "pytorch" (every matrix and embedding
    /// N(0, 0.02), linear biases PyTorch's nn.Linear default U(+-1/sqrt(fan_in))). Loaded weights ignore it.
    /// </summary>
    public string WeightInit { get; init; } = Model.WeightInit.Gpt2;
    /// <summary>One attention kind per layer; empty means all dense.</summary>
    public AttentionKind[] AttentionTypes { get; init; } = [];
    /// <summary>The window of local layers: a token attends to itself and the previous Window - 1 tokens.</summary>
    public int Window { get; init; } = 256;
    /// <summary>l of the strided and fixed patterns: the stride, or the block length.</summary>
    public int SparseStride { get; init; } = 128;
    /// <summary>c of the fixed pattern: how many positions at the end of each block every later query sees.</summary>
    public int SparseSummary { get; init; } = 8;
    /// <summary>How a strided or fixed layer divides its two patterns: "heads" (half the heads each) or "layers" (alternate layers).</summary>
    public string SparseSplit { get; init; } = "heads";

    public int HeadSize => Embedding / Heads;

    public AttentionKind KindOfLayer(int layer) => AttentionTypes.Length == 0 ? AttentionKind.Dense : AttentionTypes[layer];

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field that is impossible.</summary>
    public GptConfig Validate()
    {
        Require(VocabSize > 0, "vocab_size", $"must be positive, got {VocabSize}");
        Require(ContextLength > 0, "n_ctx", $"must be positive, got {ContextLength}");
        Require(Layers > 0, "n_layer", $"must be positive, got {Layers}");
        Require(Heads > 0, "n_head", $"must be positive, got {Heads}");
        Require(Embedding > 0 && Embedding % Heads == 0, "n_embd", $"{Embedding} is not divisible by n_head {Heads}");
        Require(Dropout is >= 0 and < 1, "dropout", $"must be in [0, 1), got {Dropout}");
        Require(LayerNormEpsilon > 0, "layer_norm_epsilon", "must be positive");
        Require(Model.WeightInit.IsKnown(WeightInit), "weight_init", $"must be {Model.WeightInit.Names}, got '{WeightInit}'");
        Require(AttentionTypes.Length == 0 || AttentionTypes.Length == Layers, "attention_types",
            $"describes {AttentionTypes.Length} layers but n_layer is {Layers}");
        if (AttentionTypes.Contains(AttentionKind.Local))
            Require(Window >= 1 && Window <= ContextLength, "window_size", $"must be between 1 and n_ctx {ContextLength}, got {Window}");
        if (AttentionTypes.Any(k => k is AttentionKind.Strided or AttentionKind.Fixed))
        {
            Require(SparseStride >= 1 && SparseStride <= ContextLength, "sparse_stride", $"must be between 1 and n_ctx {ContextLength}, got {SparseStride}");
            Require(SparseSplit is "heads" or "layers", "sparse_split", $"must be \"heads\" or \"layers\", got \"{SparseSplit}\"");
            Require(SparseSplit != "heads" || Heads % 2 == 0, "sparse_split", $"\"heads\" needs an even n_head, got {Heads}");
        }
        if (AttentionTypes.Contains(AttentionKind.Fixed))
            Require(SparseSummary >= 1 && SparseSummary <= SparseStride, "sparse_summary", $"must be between 1 and sparse_stride {SparseStride}, got {SparseSummary}");
        return this;
    }

    static void Require(bool ok, string field, string message)
    {
        if (!ok) throw new ArgumentException($"config field '{field}' {message}");
    }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["model_type"] = "fewshot-gpt",
            ["vocab_size"] = VocabSize,
            ["n_ctx"] = ContextLength,
            ["n_positions"] = ContextLength,
            ["n_layer"] = Layers,
            ["n_head"] = Heads,
            ["n_embd"] = Embedding,
            ["dropout"] = Dropout,
            ["bias"] = Bias,
            ["layer_norm_epsilon"] = LayerNormEpsilon,
            ["weight_init"] = WeightInit,
            ["attention_types"] = AttentionLayout.Compress(AttentionTypes.Length == 0 ? Enumerable.Repeat(AttentionKind.Dense, Layers).ToArray() : AttentionTypes),
            ["window_size"] = Window,
            ["sparse_stride"] = SparseStride,
            ["sparse_summary"] = SparseSummary,
            ["sparse_split"] = SparseSplit,
        };
        return json;
    }

    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public string ToJsonString() => ToJson().ToJsonString(Indented);

    /// <summary>Reads our config.json or a Hugging Face GPT-2 config.json (n_positions, resid_pdrop, ...).</summary>
    public static GptConfig FromJson(JsonNode node, string where)
    {
        if (node is not JsonObject o) throw new FormatException($"{where}: expected a JSON object");

        int Int(string key, int fallback, params string[] aliases)
        {
            foreach (var name in aliases.Prepend(key))
                if (o[name] is JsonValue v)
                    return v.TryGetValue<int>(out var i) ? i : throw new FormatException($"{where}: field '{name}' must be an integer");
            return fallback;
        }
        double Number(string key, double fallback, params string[] aliases)
        {
            foreach (var name in aliases.Prepend(key))
                if (o[name] is JsonValue v)
                    return v.TryGetValue<double>(out var d) ? d : throw new FormatException($"{where}: field '{name}' must be a number");
            return fallback;
        }

        var layers = Int("n_layer", 12, "num_layers");
        var types = o["attention_types"] is { } t ? AttentionLayout.Expand(t, $"{where}: attention_types") : [];
        if (types.Length != 0 && types.Length != layers)
            throw new FormatException($"{where}: config field 'attention_types' describes {types.Length} layers but n_layer is {layers}");
        var config = new GptConfig
        {
            VocabSize = Int("vocab_size", 50257),
            ContextLength = Int("n_ctx", 1024, "n_positions", "max_position_embeddings"),
            Layers = layers,
            Heads = Int("n_head", 12, "num_heads"),
            Embedding = Int("n_embd", 768, "hidden_size"),
            Dropout = Number("dropout", 0, "resid_pdrop"),
            Bias = o["bias"] is JsonValue b ? b.GetValue<bool>() : true,
            LayerNormEpsilon = Number("layer_norm_epsilon", 1e-5),
            WeightInit = o["weight_init"] is JsonValue init && init.TryGetValue<string>(out var initName) ? initName
                : o["weight_init"] is null ? Model.WeightInit.Gpt2 : throw new FormatException($"{where}: field 'weight_init' must be a string"),
            AttentionTypes = types.All(k => k == AttentionKind.Dense) ? [] : types,
            Window = Int("window_size", 256),
            SparseStride = Int("sparse_stride", 128),
            SparseSummary = Int("sparse_summary", 8),
            SparseSplit = o["sparse_split"] is JsonValue split ? split.GetValue<string>() : "heads",
        };
        try { return config.Validate(); }
        catch (ArgumentException e) { throw new FormatException($"{where}: {e.Message}"); }
    }

    public static GptConfig Load(string path)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new FormatException($"{path}: not valid JSON ({e.Message})"); }
        return FromJson(node ?? new JsonObject(), path);
    }
}

/// <summary>The names of the weight initialisations a new <see cref="Gpt"/> can use (<see cref="GptConfig.WeightInit"/>).</summary>
public static class WeightInit
{
    /// <summary>GPT-2's (and nanoGPT's): N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 n_layer)), zero biases.</summary>
    public const string Gpt2 = "gpt2";
    /// <summary>
    /// A plain PyTorch model's: every matrix and embedding N(0, 0.02) without the residual scaling, linear biases left
    /// at nn.Linear's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the PyTorch loop this project measures against).
    /// </summary>
    public const string PyTorch = "pytorch";

    public static string Names => $"{Gpt2} or {PyTorch}";

    public static bool IsKnown(string name) => name is Gpt2 or PyTorch;
}
