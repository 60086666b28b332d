using static TorchSharp.torch;

namespace FewShot.Model.Inference;

/// <summary>One block's weights for the fused decoder; biases are null when the model has none.</summary>
public sealed class BlockWeights : IDisposable
{
    public required AlignedBuffer<float> Ln1Gain, Ln2Gain;
    public AlignedBuffer<float>? Ln1Bias, Ln2Bias, AttnBias, AttnProjBias, FcBias, MlpProjBias;
    public required WeightMatrix Attn;     // (3C, C): q, k, v
    public required WeightMatrix AttnProj; // (C, C)
    public required WeightMatrix Fc;       // (4C, C)
    public required WeightMatrix MlpProj;  // (C, 4C)

    public long Bytes => Attn.Bytes + AttnProj.Bytes + Fc.Bytes + MlpProj.Bytes
        + new[] { Ln1Gain, Ln2Gain, Ln1Bias, Ln2Bias, AttnBias, AttnProjBias, FcBias, MlpProjBias }.Sum(b => b?.Bytes ?? 0);

    public void Dispose()
    {
        foreach (var m in new[] { Attn, AttnProj, Fc, MlpProj }) m.Dispose();
        foreach (var b in new[] { Ln1Gain, Ln2Gain, Ln1Bias, Ln2Bias, AttnBias, AttnProjBias, FcBias, MlpProjBias }) b?.Dispose();
    }
}

/// <summary>
/// A snapshot of a <see cref="Gpt"/>'s weights laid out for the fused decoder (outside libtorch, 64-byte aligned),
/// its matrices in F32 or Q8_0. Changing the model afterwards does not change the snapshot.
/// </summary>
public sealed class DecodeWeights : IDisposable
{
    public GptConfig Config { get; }
    public WeightFormat Format { get; }
    public BlockWeights[] Blocks { get; }
    /// <summary>The token embedding, also the output head (tied): (vocab, C).</summary>
    public WeightMatrix TokenEmbedding { get; }
    public AlignedBuffer<float> PositionEmbedding { get; } // (n_ctx, C)
    public AlignedBuffer<float> LnFGain { get; }
    public AlignedBuffer<float>? LnFBias { get; }

    readonly WeightArena? arena; // the F32 matrices' memory

    DecodeWeights(GptConfig config, WeightFormat format, BlockWeights[] blocks, WeightMatrix wte, AlignedBuffer<float> wpe,
        AlignedBuffer<float> lnFGain, AlignedBuffer<float>? lnFBias, WeightArena? arena)
    {
        (Config, Format, Blocks, TokenEmbedding, PositionEmbedding, LnFGain, LnFBias) = (config, format, blocks, wte, wpe, lnFGain, lnFBias);
        this.arena = arena;
    }

    /// <summary>Bytes one decoding step reads: every matrix and vector once, one row of the position table.</summary>
    public long BytesPerToken => Blocks.Sum(b => b.Bytes) + TokenEmbedding.Bytes + LnFGain.Bytes + (LnFBias?.Bytes ?? 0) + 4L * Config.Embedding;

    /// <summary>
    /// Copies the model's current weights (state-dict names as <see cref="Gpt"/> defines them). F32 matrices are laid
    /// out for <paramref name="streams"/> decoding threads (<see cref="WeightArena"/>); any thread count decodes them.
    /// </summary>
    public static DecodeWeights From(Gpt model, WeightFormat format, int streams = 1)
    {
        var config = model.Config;
        var state = model.state_dict();
        float[] Values(string name) => Floats(state[name]);
        AlignedBuffer<float> Vector(string name) => new(Values(name));
        AlignedBuffer<float>? Optional(string name) => state.ContainsKey(name) ? Vector(name) : null;
        // The matrices in the order a step reads them: per layer c_attn, attn.c_proj, c_fc, mlp.c_proj; then the head.
        var order = Enumerable.Range(0, config.Layers)
            .SelectMany(i => new[] { "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj" }.Select(m => $"h.{i}.{m}.weight"))
            .Append("wte.weight").ToArray();
        var arena = format == WeightFormat.F32
            ? new WeightArena(order.Select(name => ((int)state[name].shape[0], (int)state[name].shape[1])).ToArray(), i => Values(order[i]), streams, FusedDecoder.RowGrain)
            : null;
        WeightMatrix Matrix(string name)
        {
            if (arena is not null) return arena.Matrices[Array.IndexOf(order, name)];
            var shape = state[name].shape;
            return WeightMatrix.Create(Values(name), (int)shape[0], (int)shape[1], format);
        }

        var blocks = new BlockWeights[config.Layers];
        for (var i = 0; i < config.Layers; i++)
        {
            var p = $"h.{i}.";
            blocks[i] = new BlockWeights
            {
                Ln1Gain = Vector(p + "ln_1.weight"), Ln1Bias = Optional(p + "ln_1.bias"),
                Attn = Matrix(p + "attn.c_attn.weight"), AttnBias = Optional(p + "attn.c_attn.bias"),
                AttnProj = Matrix(p + "attn.c_proj.weight"), AttnProjBias = Optional(p + "attn.c_proj.bias"),
                Ln2Gain = Vector(p + "ln_2.weight"), Ln2Bias = Optional(p + "ln_2.bias"),
                Fc = Matrix(p + "mlp.c_fc.weight"), FcBias = Optional(p + "mlp.c_fc.bias"),
                MlpProj = Matrix(p + "mlp.c_proj.weight"), MlpProjBias = Optional(p + "mlp.c_proj.bias"),
            };
        }
        return new DecodeWeights(config, format, blocks, Matrix("wte.weight"), Vector("wpe.weight"), Vector("ln_f.weight"), Optional("ln_f.bias"), arena);
    }

    /// <summary>A tensor's values as a row-major float array (on the CPU, in F32).</summary>
    public static float[] Floats(Tensor value)
    {
        using var _ = no_grad();
        using var t = value.detach().cpu().to(ScalarType.Float32).contiguous();
        return t.data<float>().ToArray();
    }

    public void Dispose()
    {
        foreach (var b in Blocks) b.Dispose();
        TokenEmbedding.Dispose();
        arena?.Dispose();
        PositionEmbedding.Dispose();
        LnFGain.Dispose();
        LnFBias?.Dispose();
    }
}
