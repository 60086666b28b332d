namespace FewShot.Model;

/// <summary>Sizes and costs of a configuration, computed from its shape alone (no weights are allocated).</summary>
public sealed record ModelInfo(long Parameters, long NonEmbeddingParameters, long PositionParameters, double TrainingFlopsPerToken,
    long WeightBytes, long OptimizerBytes)
{
    /// <summary>
    /// Counts every tensor the model holds. The output head is tied to the token embedding, so it adds nothing.
    /// Training FLOPs per token follow nanoGPT's estimate, 6N + 12 L d T, with N excluding position embeddings
    /// (its get_num_params) and 12 L d T counting the attention scores and the weighted sum, forward and backward.
    /// </summary>
    public static ModelInfo Of(GptConfig c, int bytesPerParameter = 4)
    {
        long d = c.Embedding, L = c.Layers, V = c.VocabSize, T = c.ContextLength;
        var bias = c.Bias ? 1 : 0;
        var layerNorm = d * (1 + bias);                             // weight (+ bias)
        var attention = d * 3 * d + 3 * d * bias + d * d + d * bias; // c_attn + c_proj
        var mlp = d * 4 * d + 4 * d * bias + 4 * d * d + d * bias;   // c_fc + c_proj
        var perLayer = 2 * layerNorm + attention + mlp;
        var tokenEmbedding = V * d;
        var positions = T * d;
        var total = tokenEmbedding + positions + L * perLayer + layerNorm;
        var withoutPositions = total - positions;
        var flops = 6.0 * withoutPositions + 12.0 * L * d * T;
        // AdamW keeps two moments per parameter; training also holds one gradient per parameter.
        return new ModelInfo(total, total - tokenEmbedding - positions, positions, flops,
            total * bytesPerParameter, 3 * total * bytesPerParameter);
    }
}
