using System.Text.Json.Nodes;
using FewShot.Model;

namespace FewShot.Training.Recipes;

/// <summary>
/// Everything that decides a training run: model shape, data, batch, schedule, optimizer and bookkeeping. Read from a
/// JSON recipe file and/or command-line flags (flags override the file); every key is listed in <see cref="RecipeKeys"/>.
/// Defaults follow GPT-3's Appendix B where the paper gives one (AdamW 0.9/0.95/1e-8, weight decay 0.1, clip 1.0,
/// cosine to 10%).
/// </summary>
public sealed class TrainingRecipe
{
    // Model. Null fields come from the preset (or GptConfig's defaults).
    public string? Preset { get; set; }
    public int? Layers { get; set; }
    public int? Heads { get; set; }
    public int? Embedding { get; set; }
    public int? ContextLength { get; set; }
    public double Dropout { get; set; }
    /// <summary>Attention layout: dense, local, alternating (GPT-3's dense/local), strided, fixed, or a GPT-Neo list such as [[["dense","local"],2]].</summary>
    public string? Attention { get; set; }
    /// <summary>Window of local layers (and l of strided/fixed ones).</summary>
    public int? Window { get; set; }
    public bool Bias { get; set; } = true;
    /// <summary>How a new model's weights are drawn: gpt2 or pytorch (see <see cref="GptConfig.WeightInit"/>); ignored with --init.</summary>
    public string WeightInit { get; set; } = Model.WeightInit.Gpt2;
    /// <summary>char, bytes or r50k_base (alias gpt2); ignored with --init (the model folder names its own).</summary>
    public string Tokenizer { get; set; } = "r50k_base";
    /// <summary>
    /// Prepared data only: "name=weight,..." to sample the folder's sources by these weights instead of the ones it was
    /// prepared with (unlisted sources get 0; validation then uses only the listed sources). Null: the folder's weights.
    /// </summary>
    public string? MixtureWeights { get; set; }

    /// <summary><see cref="MixtureWeights"/> parsed (null: the folder's own weights); the names are checked against the folder when it opens.</summary>
    public IReadOnlyDictionary<string, double>? ParsedMixtureWeights => MixtureWeights is { } text ? ParseMixtureWeights(text) : null;

    // Batch: each optimizer step sees BatchTokens tokens, in micro-batches of MicroBatch sequences of ContextLength tokens.
    public int MicroBatch { get; set; } = 12;
    /// <summary>Tokens per optimizer step (null: one micro-batch, or the preset's batch).</summary>
    public long? BatchTokens { get; set; }
    /// <summary>Ramp the batch linearly from <see cref="BatchRampStartTokens"/> to the full batch over this many tokens (0: no ramp).</summary>
    public long BatchRampTokens { get; set; }
    public long BatchRampStartTokens { get; set; } = 32_768;

    // Length and schedule. Lengths in iterations, or in tokens when the *_tokens form is given.
    public int? Iterations { get; set; }
    public long? TrainTokens { get; set; }
    public double? LearningRate { get; set; }
    /// <summary>Floor of the cosine decay (null: 10% of the peak, as GPT-3).</summary>
    public double? MinLearningRate { get; set; }
    public int? WarmupIterations { get; set; }
    public long? WarmupTokens { get; set; }
    /// <summary>Where the cosine reaches the floor (null: the end of training).</summary>
    public int? DecayIterations { get; set; }
    public long? DecayTokens { get; set; }

    // AdamW.
    public double Beta1 { get; set; } = 0.9;
    public double Beta2 { get; set; } = 0.95;
    public double Epsilon { get; set; } = 1e-8;
    public double WeightDecay { get; set; } = 0.1;
    /// <summary>Global gradient-norm clip (0: none).</summary>
    public double GradClip { get; set; } = 1.0;

    // Bookkeeping.
    public long Seed { get; set; } = 1337;
    public int EvalInterval { get; set; } = 500;
    public int EvalBatches { get; set; } = 200;
    public int SampleTokens { get; set; } = 200;
    /// <summary>Steps between checkpoints (null: the eval interval).</summary>
    public int? CheckpointInterval { get; set; }
    public int KeepCheckpoints { get; set; } = 3;
    public int LogInterval { get; set; } = 10;
    /// <summary>libtorch intra-op threads (0: choose: 1 for models under ~5M parameters, else all cores).</summary>
    public int Threads { get; set; }
    public string Device { get; set; } = "cpu";
    /// <summary>Model replicas computing each micro-batch in parallel, 1 or 2 (0: 2 for small dropout-free models on CPU).</summary>
    public int Replicas { get; set; }
    /// <summary>The linear layers' matrix products: fp32 or bf16 (<see cref="Model.MatrixPrecision"/>).</summary>
    public string Precision { get; set; } = "fp32";

    public TrainingRecipe Clone() => RecipeReader.FromJson(ToJson(), "recipe");

    public JsonObject ToJson() => RecipeKeys.ToJson(this);

    Preset? PresetOrNull => Preset is null ? null : Model.Presets.Get(Preset);

    /// <summary>The model shape for a tokenizer with <paramref name="vocabSize"/> tokens.</summary>
    public GptConfig ModelConfig(int vocabSize)
    {
        var baseConfig = PresetOrNull?.Config ?? new GptConfig { Layers = 4, Heads = 4, Embedding = 128, ContextLength = 64 };
        return (baseConfig with
        {
            VocabSize = vocabSize,
            Layers = Layers ?? baseConfig.Layers,
            Heads = Heads ?? baseConfig.Heads,
            Embedding = Embedding ?? baseConfig.Embedding,
            ContextLength = ContextLength ?? baseConfig.ContextLength,
            Dropout = Dropout,
            Bias = Bias,
            WeightInit = WeightInit,
            AttentionTypes = Attention is null ? baseConfig.AttentionTypes : AttentionLayoutOf(Attention, Layers ?? baseConfig.Layers),
            Window = Window ?? baseConfig.Window,
            SparseStride = Window ?? baseConfig.SparseStride,
        }).Validate();
    }

    /// <summary>"wordlists=0.5, arithmetic=0.5" as a dictionary: names once each, weights finite and >= 0, one of them > 0.</summary>
    static IReadOnlyDictionary<string, double> ParseMixtureWeights(string text)
    {
        static FormatException Bad(string message) => new($"recipe 'mixture_weights' {message}");
        var weights = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split('=', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0) throw Bad($"expects name=weight pairs separated by commas, got '{item}'");
            if (!double.TryParse(parts[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var weight) || !double.IsFinite(weight) || weight < 0)
                throw Bad($"weight of '{parts[0]}' must be a number >= 0, got '{parts[1]}'");
            if (!weights.TryAdd(parts[0], weight)) throw Bad($"names '{parts[0]}' twice");
        }
        if (!weights.Values.Any(w => w > 0)) throw Bad($"needs at least one source with a weight above 0, got '{text}'");
        return weights;
    }

    static AttentionKind[] AttentionLayoutOf(string text, int layers) => text.Trim() switch
    {
        "alternating" => [.. Enumerable.Range(0, layers).Select(i => i % 2 == 0 ? AttentionKind.Dense : AttentionKind.Local)],
        var t when t.StartsWith('[') => AttentionLayout.Expand(System.Text.Json.Nodes.JsonNode.Parse(t), "attention"),
        var t => [.. Enumerable.Repeat(AttentionLayout.Parse(t, "attention"), layers)],
    };

    public int Context => ContextLength ?? PresetOrNull?.Config.ContextLength ?? 64;
    public long MicroBatchTokens => (long)MicroBatch * Context;
    public long FullBatchTokens => BatchTokens ?? (PresetOrNull is { } p && p.BatchTokens >= MicroBatchTokens ? p.BatchTokens / MicroBatchTokens * MicroBatchTokens : MicroBatchTokens);
    public double PeakLearningRate => LearningRate ?? PresetOrNull?.LearningRate ?? 6e-4;
    public double FloorLearningRate => MinLearningRate ?? PeakLearningRate * 0.1;

    /// <summary>Optimizer steps in the run: --iters, or enough steps of the full batch to see --train-tokens.</summary>
    public int TotalIterations => Iterations ?? (TrainTokens is { } t ? (int)Math.Max(1, (t + FullBatchTokens - 1) / FullBatchTokens) : 2000);

    /// <summary>True when warmup and decay are measured in tokens (GPT-3 states them so).</summary>
    public bool ScheduleInTokens => WarmupTokens is not null || DecayTokens is not null;

    public int ResolvedCheckpointInterval => CheckpointInterval ?? EvalInterval;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first impossible setting.</summary>
    public TrainingRecipe Validate()
    {
        if (Preset is not null) _ = Model.Presets.Get(Preset);
        Require(MicroBatch >= 1, "micro_batch", $"must be at least 1, got {MicroBatch}");
        Require(Context >= 1, "n_ctx", $"must be at least 1, got {Context}");
        if (Heads is { } h && Embedding is { } d) Require(h > 0 && d % h == 0, "n_head", $"{h} does not divide n_embd {d}");
        ModelConfig(256); // the shape itself (heads dividing d_model, ...)
        Require(FullBatchTokens % MicroBatchTokens == 0, "batch_tokens",
            $"{FullBatchTokens} is not a multiple of the micro-batch ({MicroBatch} x {Context} = {MicroBatchTokens} tokens)");
        Require(BatchRampTokens >= 0, "batch_ramp_tokens", "must not be negative");
        Require(BatchRampStartTokens >= 1, "batch_ramp_start_tokens", "must be positive");
        Require(Iterations is null or >= 1, "iters", $"must be at least 1, got {Iterations}");
        Require(TrainTokens is null or >= 1, "train_tokens", "must be positive");
        Require(PeakLearningRate > 0, "lr", $"must be positive, got {PeakLearningRate}");
        Require(FloorLearningRate >= 0 && FloorLearningRate <= PeakLearningRate, "min_lr", $"must be between 0 and lr {PeakLearningRate}, got {FloorLearningRate}");
        Require(WarmupIterations is null or >= 0, "warmup_iters", "must not be negative");
        Require(WarmupTokens is null or >= 0, "warmup_tokens", "must not be negative");
        Require(!(WarmupIterations is not null && WarmupTokens is not null), "warmup_tokens", "give warmup_iters or warmup_tokens, not both");
        Require(!(DecayIterations is not null && DecayTokens is not null), "decay_tokens", "give decay_iters or decay_tokens, not both");
        Require(Beta1 is >= 0 and < 1, "beta1", $"must be in [0, 1), got {Beta1}");
        Require(Beta2 is >= 0 and < 1, "beta2", $"must be in [0, 1), got {Beta2}");
        Require(Epsilon > 0, "eps", "must be positive");
        Require(WeightDecay >= 0, "weight_decay", "must not be negative");
        Require(GradClip >= 0, "grad_clip", "must not be negative");
        Require(EvalInterval >= 1, "eval_interval", $"must be at least 1, got {EvalInterval}");
        Require(EvalBatches >= 1, "eval_batches", $"must be at least 1, got {EvalBatches}");
        Require(SampleTokens >= 0, "sample_tokens", "must not be negative");
        Require(ResolvedCheckpointInterval >= 1, "checkpoint_interval", "must be at least 1");
        Require(KeepCheckpoints >= 1, "keep_checkpoints", "must be at least 1");
        Require(LogInterval >= 1, "log_interval", "must be at least 1");
        Require(Threads >= 0, "threads", "must not be negative");
        Require(Replicas is >= 0 and <= 2, "replicas", $"must be 0 (automatic), 1 or 2, got {Replicas}");
        Require(Replicas < 2 || Dropout == 0, "replicas", "2 needs dropout 0 (replicas would share one random generator)");
        Require(Replicas < 2 || MicroBatch >= 2, "replicas", "2 needs a micro-batch of at least 2 sequences");
        Require(MatrixPrecisions.IsKnown(Precision), "precision", $"must be {MatrixPrecisions.Names}, got '{Precision}'");
        Require(Precision != "bf16" || Device != "cpu" || MatrixPrecisions.CpuHasBFloat16, "precision",
            "bf16 needs a CPU with AVX512-BF16, and this one has none (its bfloat16 products would be slower than fp32)");
        _ = ParsedMixtureWeights;
        return this;
    }

    static void Require(bool ok, string key, string message)
    {
        if (!ok) throw new ArgumentException($"recipe '{key}' {message}");
    }
}
