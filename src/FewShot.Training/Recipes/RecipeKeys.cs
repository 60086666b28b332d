using System.Globalization;
using System.Text.Json.Nodes;
using FewShot.Model;

namespace FewShot.Training.Recipes;

/// <summary>One recipe setting: its JSON key, its command-line flag, and how to read and write it.</summary>
public sealed record RecipeKey(string Name, string Flag, string Help, Func<TrainingRecipe, JsonNode?> Get, Action<TrainingRecipe, JsonValue?> Set);

/// <summary>Every recipe key, in the order a recipe file lists them. The CLI builds its flags from this table.</summary>
public static class RecipeKeys
{
    public static readonly IReadOnlyList<RecipeKey> All =
    [
        Text("preset", "--preset", "Model preset (gpt3-small ... gpt3-175b, char-tiny, mini, demo): shape, batch and lr", r => r.Preset, (r, v) => r.Preset = v),
        Int("n_layer", "--layers", "Transformer blocks", r => r.Layers, (r, v) => r.Layers = v),
        Int("n_head", "--heads", "Attention heads", r => r.Heads, (r, v) => r.Heads = v),
        Int("n_embd", "--embd", "d_model", r => r.Embedding, (r, v) => r.Embedding = v),
        Int("n_ctx", "--ctx", "Context length in tokens", r => r.ContextLength, (r, v) => r.ContextLength = v),
        Number("dropout", "--dropout", "Dropout probability", r => r.Dropout, (r, v) => r.Dropout = v ?? 0),
        Text("attention", "--attention", "Attention layout: dense, local, alternating (GPT-3), strided, fixed, or a list like [[\"dense\",\"local\"],2]", r => r.Attention, (r, v) => r.Attention = v),
        Int("window_size", "--window", "Window of local layers (and l of strided and fixed ones)", r => r.Window, (r, v) => r.Window = v),
        Bool("bias", "--bias", "Biases in linear layers and LayerNorms", r => r.Bias, (r, v) => r.Bias = v ?? true),
        Text("weight_init", "--weight-init", "Initialisation of a new model: gpt2 (residual projections scaled, zero biases) or pytorch (every matrix N(0, 0.02), nn.Linear's uniform biases)",
            r => r.WeightInit, (r, v) => r.WeightInit = v is null ? Model.WeightInit.Gpt2 : Model.WeightInit.IsKnown(v) ? v : throw Bad("weight_init", $"must be {Model.WeightInit.Names}, got '{v}'")),
        Text("tokenizer", "--tokenizer", "char, bytes or r50k_base", r => r.Tokenizer, (r, v) => r.Tokenizer = v ?? "r50k_base"),
        Text("mixture_weights", "--weights", "With --data: sample the folder's sources by these weights, e.g. wordlists=0.5,arithmetic=0.5 (unlisted: 0)", r => r.MixtureWeights, (r, v) => r.MixtureWeights = v),
        Int("micro_batch", "--batch", "Sequences per forward pass (micro-batch)", r => r.MicroBatch, (r, v) => r.MicroBatch = v ?? 12),
        Long("batch_tokens", "--batch-tokens", "Tokens per optimizer step (gradient accumulation over micro-batches)", r => r.BatchTokens, (r, v) => r.BatchTokens = v),
        Long("batch_ramp_tokens", "--batch-ramp-tokens", "Ramp the batch linearly over this many tokens (0: no ramp)", r => r.BatchRampTokens, (r, v) => r.BatchRampTokens = v ?? 0),
        Long("batch_ramp_start_tokens", "--batch-ramp-start", "Batch size in tokens at the start of the ramp", r => r.BatchRampStartTokens, (r, v) => r.BatchRampStartTokens = v ?? 32_768),
        Int("iters", "--iters", "Optimizer steps", r => r.Iterations, (r, v) => r.Iterations = v),
        Long("train_tokens", "--train-tokens", "Train on this many tokens (instead of --iters)", r => r.TrainTokens, (r, v) => r.TrainTokens = v),
        Number("lr", "--lr", "Peak learning rate", r => r.LearningRate, (r, v) => r.LearningRate = v),
        Number("min_lr", "--min-lr", "Learning rate at the end of the cosine (default 10% of --lr)", r => r.MinLearningRate, (r, v) => r.MinLearningRate = v),
        Int("warmup_iters", "--warmup-iters", "Linear warmup in steps", r => r.WarmupIterations, (r, v) => r.WarmupIterations = v),
        Long("warmup_tokens", "--warmup-tokens", "Linear warmup in tokens", r => r.WarmupTokens, (r, v) => r.WarmupTokens = v),
        Int("decay_iters", "--decay-iters", "Step where the cosine reaches --min-lr (default: the last)", r => r.DecayIterations, (r, v) => r.DecayIterations = v),
        Long("decay_tokens", "--decay-tokens", "Tokens after which the cosine reaches --min-lr", r => r.DecayTokens, (r, v) => r.DecayTokens = v),
        Number("beta1", "--beta1", "AdamW beta1", r => r.Beta1, (r, v) => r.Beta1 = v ?? 0.9),
        Number("beta2", "--beta2", "AdamW beta2", r => r.Beta2, (r, v) => r.Beta2 = v ?? 0.95),
        Number("eps", "--eps", "AdamW epsilon", r => r.Epsilon, (r, v) => r.Epsilon = v ?? 1e-8),
        Number("weight_decay", "--weight-decay", "Decoupled weight decay on matrices and embeddings", r => r.WeightDecay, (r, v) => r.WeightDecay = v ?? 0.1),
        Number("grad_clip", "--grad-clip", "Clip the global gradient norm (0: off)", r => r.GradClip, (r, v) => r.GradClip = v ?? 1.0),
        Long("seed", "--seed", "Random seed (data order, initialisation, dropout)", r => r.Seed, (r, v) => r.Seed = v ?? 1337),
        Int("eval_interval", "--eval-interval", "Steps between validation evaluations", r => r.EvalInterval, (r, v) => r.EvalInterval = v ?? 500),
        Int("eval_batches", "--eval-batches", "Fixed validation micro-batches per evaluation", r => r.EvalBatches, (r, v) => r.EvalBatches = v ?? 200),
        Int("sample_tokens", "--sample-tokens", "Tokens of generated text per evaluation (0: none)", r => r.SampleTokens, (r, v) => r.SampleTokens = v ?? 200),
        Int("checkpoint_interval", "--checkpoint-interval", "Steps between checkpoints (default: the eval interval)", r => r.CheckpointInterval, (r, v) => r.CheckpointInterval = v),
        Int("keep_checkpoints", "--keep-checkpoints", "Checkpoints kept besides the best", r => r.KeepCheckpoints, (r, v) => r.KeepCheckpoints = v ?? 3),
        Int("log_interval", "--log-interval", "Steps between metrics.jsonl lines", r => r.LogInterval, (r, v) => r.LogInterval = v ?? 10),
        Int("threads", "--threads", "libtorch threads (0: 1 for tiny models, else all cores)", r => r.Threads, (r, v) => r.Threads = v ?? 0),
        Text("device", "--device", "cpu or cuda", r => r.Device, (r, v) => r.Device = v ?? "cpu"),
        Int("replicas", "--replicas", "Model replicas splitting each micro-batch across threads: 1 or 2 (0: automatic)", r => r.Replicas, (r, v) => r.Replicas = v ?? 0),
        Text("precision", "--precision", "Linear layers' matrix products: fp32, or bf16 (mixed precision: bfloat16 inputs, float32 sums and weights; needs AVX512-BF16 on a CPU)",
            r => r.Precision, (r, v) => r.Precision = v is null ? "fp32" : MatrixPrecisions.IsKnown(v) ? v : throw Bad("precision", $"must be {MatrixPrecisions.Names}, got '{v}'")),
    ];

    public static RecipeKey? Find(string name) => All.FirstOrDefault(k => k.Name == name);

    public static JsonObject ToJson(TrainingRecipe recipe)
    {
        var json = new JsonObject();
        foreach (var key in All)
            if (key.Get(recipe) is { } value) json[key.Name] = value;
        return json;
    }

    /// <summary>A command-line value as the JSON value a recipe file would hold: 12 -> number, char -> string.</summary>
    public static JsonValue ParseFlagValue(string text)
    {
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)) return JsonValue.Create(l);
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return JsonValue.Create(d);
        if (bool.TryParse(text, out var b)) return JsonValue.Create(b);
        return JsonValue.Create(text);
    }

    static RecipeKey Int(string name, string flag, string help, Func<TrainingRecipe, int?> get, Action<TrainingRecipe, int?> set) =>
        new(name, flag, help, r => get(r) is { } v ? JsonValue.Create(v) : null, (r, v) => set(r, v is null ? null : Integer(v, name, int.MinValue, int.MaxValue) is var x ? (int)x : null));

    static RecipeKey Long(string name, string flag, string help, Func<TrainingRecipe, long?> get, Action<TrainingRecipe, long?> set) =>
        new(name, flag, help, r => get(r) is { } v ? JsonValue.Create(v) : null, (r, v) => set(r, v is null ? null : Integer(v, name, long.MinValue, long.MaxValue)));

    static RecipeKey Number(string name, string flag, string help, Func<TrainingRecipe, double?> get, Action<TrainingRecipe, double?> set) =>
        new(name, flag, help, r => get(r) is { } v ? JsonValue.Create(v) : null, (r, v) => set(r, v is null ? null : Real(v, name)));

    static RecipeKey Bool(string name, string flag, string help, Func<TrainingRecipe, bool> get, Action<TrainingRecipe, bool?> set) =>
        new(name, flag, help, r => JsonValue.Create(get(r)), (r, v) => set(r, v is null ? null : v.TryGetValue<bool>(out var b) ? b : throw Bad(name, "must be true or false")));

    static RecipeKey Text(string name, string flag, string help, Func<TrainingRecipe, string?> get, Action<TrainingRecipe, string?> set) =>
        new(name, flag, help, r => get(r) is { } v ? JsonValue.Create(v) : null, (r, v) => set(r, v is null ? null : v.TryGetValue<string>(out var s) ? s : v.ToJsonString()));

    static long Integer(JsonValue v, string name, long min, long max)
    {
        var d = Real(v, name);
        // Accept 1e6 and 3.2e6 for token counts, but not 2.5 steps.
        if (d != Math.Floor(d) || d < min || d > max) throw Bad(name, $"must be an integer, got {v.ToJsonString()}");
        return (long)d;
    }

    static double Real(JsonValue v, string name)
    {
        // Values built in code hold a long or a double; parsed ones hold a JsonElement: read the text either way.
        var json = v.ToJsonString();
        if (v.TryGetValue<string>(out var s)) json = s;
        if (double.TryParse(json, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return d;
        throw Bad(name, $"must be a number, got {v.ToJsonString()}");
    }

    static FormatException Bad(string name, string message) => new($"recipe '{name}' {message}");
}
