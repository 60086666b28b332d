using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Model;

// The GPT-2/GPT-3 decoder, top to bottom: attention, MLP, block, model.
// Module fields are named after Hugging Face GPT-2's checkpoint keys (wte, h.0.attn.c_attn, ...) so that state-dict
// keys match; weights are nn.Linear's [out, in], where Hugging Face's Conv1D stores [in, out].

/// <summary>Multi-head causal self-attention with its layer's pattern (dense, local, strided, fixed) and an optional KV cache.</summary>
public sealed class CausalSelfAttention : nn.Module
{
    readonly Linear c_attn; // x -> q, k, v in one matmul
    readonly Linear c_proj;
    readonly Dropout resid_dropout;
    readonly int heads, layer;
    readonly double dropout;
    public LayerPattern Pattern { get; }

    /// <summary>The number format of this layer's matrix products (<see cref="Gpt.MatrixPrecision"/>).</summary>
    internal MatrixPrecision Precision { get; set; }

    public CausalSelfAttention(GptConfig config, int layer) : base(nameof(CausalSelfAttention))
    {
        c_attn = nn.Linear(config.Embedding, 3 * config.Embedding, hasBias: config.Bias);
        c_proj = nn.Linear(config.Embedding, config.Embedding, hasBias: config.Bias);
        resid_dropout = nn.Dropout(config.Dropout);
        heads = config.Heads;
        dropout = config.Dropout;
        this.layer = layer;
        Pattern = LayerPattern.For(config, layer);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, KvCache? cache)
    {
        var (B, T, C) = (x.shape[0], x.shape[1], x.shape[2]);
        var qkv = FusedLinear.Forward(c_attn, x, Precision); // (B, T, 3C): q | k | v
        var p = training ? dropout : 0.0;
        var y = cache is null && Pattern.IsDense && FusedAttention.Applies(qkv, heads, p)
            ? FusedAttention.Apply(qkv, heads) // (B, T, C) straight from (B, T, 3C): short sequences on one CPU thread
            : Heads(qkv, cache, p, B, T, C);
        return resid_dropout.forward(FusedLinear.Forward(c_proj, y, Precision));
    }

    /// <summary>Attention head by head: (B, T, 3C) -> 3 x (B, nh, T, hs) -> (B, nh, T, hs) -> (B, T, C).</summary>
    Tensor Heads(Tensor qkv, KvCache? cache, double p, long B, long T, long C)
    {
        var parts = qkv.view(B, T, 3, heads, C / heads).permute(2, 0, 3, 1, 4);
        var (q, k, v) = (parts[0], parts[1], parts[2]);

        // (B, nh, T, hs): over this sequence alone (training), or over what the cache holds plus these tokens.
        var y = cache is null ? Attention.Causal(q, k, v, Pattern, p) : cache.Attend(layer, q, k, v, p);

        return y.transpose(1, 2).contiguous().view(B, T, C); // re-assemble heads side by side
    }
}

/// <summary>The position-wise feed-forward network: d -> 4d -> GELU (tanh approximation; fused on the CPU) -> d.</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    readonly Linear c_fc, c_proj;
    readonly Dropout dropout;

    public Mlp(GptConfig config) : base(nameof(Mlp))
    {
        c_fc = nn.Linear(config.Embedding, 4 * config.Embedding, hasBias: config.Bias);
        c_proj = nn.Linear(4 * config.Embedding, config.Embedding, hasBias: config.Bias);
        dropout = nn.Dropout(config.Dropout);
        RegisterComponents();
    }

    /// <summary>The number format of this network's matrix products (<see cref="Gpt.MatrixPrecision"/>).</summary>
    internal MatrixPrecision Precision { get; set; }

    public override Tensor forward(Tensor x) =>
        dropout.forward(FusedLinear.Forward(c_proj, FusedGelu.Apply(FusedLinear.Forward(c_fc, x, Precision)), Precision));
}

/// <summary>A pre-LayerNorm transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x)).</summary>
public sealed class Block : nn.Module
{
    readonly LayerNorm ln_1, ln_2;
    readonly CausalSelfAttention attn;
    readonly Mlp mlp;
    readonly double eps;

    public Block(GptConfig config, int layer) : base(nameof(Block))
    {
        eps = config.LayerNormEpsilon;
        ln_1 = nn.LayerNorm(config.Embedding, config.LayerNormEpsilon, bias: config.Bias);
        attn = new CausalSelfAttention(config, layer);
        ln_2 = nn.LayerNorm(config.Embedding, config.LayerNormEpsilon, bias: config.Bias);
        mlp = new Mlp(config);
        RegisterComponents();
    }

    public CausalSelfAttention Attention => attn;

    internal Mlp Mlp => mlp;

    public Tensor forward(Tensor x, KvCache? cache)
    {
        x = x + attn.forward(FusedLayerNorm.Forward(ln_1, x, eps), cache);
        return x + mlp.forward(FusedLayerNorm.Forward(ln_2, x, eps));
    }
}

/// <summary>
/// GPT: learned token and position embeddings, n_layer pre-LN blocks, a final LayerNorm, and an output head tied to
/// the token embedding. Initialised as GPT-2 (N(0, 0.02), residual output projections N(0, 0.02 / sqrt(2 n_layer)),
/// zero biases) or, with <see cref="GptConfig.WeightInit"/> "pytorch", as a plain PyTorch model of the same layout.
/// </summary>
public sealed class Gpt : nn.Module<Tensor, Tensor>
{
    readonly Embedding wte, wpe;
    readonly Dropout drop;
    readonly ModuleList<Block> h;
    readonly LayerNorm ln_f;

    public GptConfig Config { get; }

    /// <summary>
    /// The number format of the blocks' matrix products: float32 (default), or bfloat16 inputs with float32
    /// accumulation (mixed precision, for training on CPUs with AVX512-BF16). A setting of this copy in memory, not
    /// of the weights: they stay float32, and a saved model does not remember it. The tied output head stays float32.
    /// </summary>
    public MatrixPrecision MatrixPrecision
    {
        get => h.Count == 0 ? MatrixPrecision.Float32 : h[0].Attention.Precision;
        set
        {
            foreach (var block in h) (block.Attention.Precision, block.Mlp.Precision) = (value, value);
        }
    }

    public Gpt(GptConfig config, Device? device = null) : base(nameof(Gpt))
    {
        Config = config.Validate();
        wte = nn.Embedding(config.VocabSize, config.Embedding);
        wpe = nn.Embedding(config.ContextLength, config.Embedding);
        drop = nn.Dropout(config.Dropout);
        h = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(i => new Block(config, i)).ToArray());
        ln_f = nn.LayerNorm(config.Embedding, config.LayerNormEpsilon, bias: config.Bias);
        RegisterComponents();
        InitializeWeights();
        if (device is not null && device.type != DeviceType.CPU) this.to(device);
    }

    /// <summary>Logits for every position: ids (B, T) -> (B, T, vocab).</summary>
    public override Tensor forward(Tensor ids) => Forward(ids, cache: null);

    /// <summary>
    /// Logits (B, T, vocab) for ids (B, T). With a cache, row b's tokens sit at positions cache.Length(b) onward, and
    /// the cache advances by T; <paramref name="lastOnly"/> projects only the last position onto the vocabulary.
    /// </summary>
    public Tensor Forward(Tensor ids, KvCache? cache, bool lastOnly = false)
    {
        var T = ids.shape[1];
        if (cache is null && T > Config.ContextLength)
            throw new ArgumentException($"sequence of {T} tokens is longer than the context ({Config.ContextLength})");

        var positions = cache is null ? arange(T, dtype: ScalarType.Int64, device: ids.device) : cache.Positions(T); // (T) or (B, T)
        var x = drop.forward(wte.forward(ids) + wpe.forward(positions)); // (B, T, C)
        foreach (var block in h) x = block.forward(x, cache);
        cache?.Advance(T);
        if (lastOnly) x = x[.., ^1..];
        return F.linear(FusedLayerNorm.Forward(ln_f, x, Config.LayerNormEpsilon), wte.weight!); // tied head: (B, T, vocab)
    }

    /// <summary>Mean cross-entropy of predicting targets (B, T) from ids (B, T).</summary>
    public Tensor Loss(Tensor ids, Tensor targets)
    {
        using var logits = forward(ids);
        return F.cross_entropy(logits.view(-1, logits.shape[2]), targets.reshape(-1)); // targets may be a strided slice
    }

    /// <summary>The cross-entropy of every target token, (B, T): where in the context a model predicts well.</summary>
    public Tensor TokenLosses(Tensor ids, Tensor targets)
    {
        using var logits = forward(ids);
        return F.cross_entropy(logits.view(-1, logits.shape[2]), targets.reshape(-1), reduction: nn.Reduction.None).view(targets.shape);
    }

    public IReadOnlyList<Block> Blocks => [.. h];

    /// <summary>A fresh KV cache sized for this model.</summary>
    public KvCache NewCache(int batch, int capacity) =>
        new(Config, batch, Math.Min(capacity, Config.ContextLength), wte.weight!.device, wte.weight!.dtype);

    /// <summary>Draws the weights as <see cref="GptConfig.WeightInit"/> says, in parameter order (one seed, one model).</summary>
    void InitializeWeights()
    {
        using var _ = no_grad();
        var pytorch = Config.WeightInit == WeightInit.PyTorch;
        var residualStd = pytorch ? 0.02 : 0.02 / Math.Sqrt(2.0 * Config.Layers);
        var parameters = named_parameters().ToList();
        var fanIn = parameters.Where(p => p.name.EndsWith(".weight", StringComparison.Ordinal) && p.parameter.dim() == 2)
            .ToDictionary(p => p.name[..^".weight".Length], p => p.parameter.shape[1]);
        foreach (var (name, parameter) in parameters)
        {
            var layerNorm = name.Contains("ln_", StringComparison.Ordinal);
            if (name.EndsWith(".bias", StringComparison.Ordinal))
            {
                // nn.Linear's default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); LayerNorm's bias is zero in both.
                if (pytorch && !layerNorm) { var bound = 1 / Math.Sqrt(fanIn[name[..^".bias".Length]]); nn.init.uniform_(parameter, -bound, bound); }
                else nn.init.zeros_(parameter);
            }
            else if (layerNorm) nn.init.ones_(parameter);
            else if (name.EndsWith("c_proj.weight", StringComparison.Ordinal)) nn.init.normal_(parameter, 0, residualStd);
            else nn.init.normal_(parameter, 0, 0.02);
        }
    }
}
