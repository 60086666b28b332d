namespace FewShot.Model;

/// <summary>A named model size with the batch size and learning rate it is trained with.</summary>
/// <param name="PaperParameters">The parameter count the paper prints for this row (null for our own small presets).</param>
public sealed record Preset(string Name, GptConfig Config, long BatchTokens, double LearningRate, string? PaperParameters, string Note = "");

/// <summary>
/// The eight sizes of GPT-3's Table 2.1 (all with n_ctx 2048, d_ff = 4 d_model, a 50,257-token vocabulary and
/// alternating dense and locally banded attention), plus small presets that train on a laptop CPU.
/// </summary>
public static class Presets
{
    // GPT-3: "alternating dense and locally banded sparse attention patterns in the layers of the transformer".
    static AttentionKind[] Alternating(int layers) =>
        Enumerable.Range(0, layers).Select(i => i % 2 == 0 ? AttentionKind.Dense : AttentionKind.Local).ToArray();

    static Preset Paper(string name, int layers, int dModel, int heads, double batchMillions, double lr, string paper, string note = "") =>
        new(name,
            new GptConfig
            {
                VocabSize = 50257, ContextLength = 2048, Layers = layers, Heads = heads, Embedding = dModel,
                AttentionTypes = Alternating(layers), Window = 256,
            },
            (long)(batchMillions * 1_000_000), lr, paper, note);

    static Preset Small(string name, int layers, int dModel, int heads, int context, int vocab, long batchTokens, double lr, string note) =>
        new(name,
            new GptConfig { VocabSize = vocab, ContextLength = context, Layers = layers, Heads = heads, Embedding = dModel },
            batchTokens, lr, null, note);

    public static readonly IReadOnlyList<Preset> All =
    [
        Paper("gpt3-small", 12, 768, 12, 0.5, 6e-4, "125M"),
        Paper("gpt3-medium", 24, 1024, 16, 0.5, 3e-4, "350M"),
        Paper("gpt3-large", 24, 1536, 16, 0.5, 2.5e-4, "760M"),
        Paper("gpt3-xl", 24, 2048, 16, 1, 2e-4, "1.3B",
            "Table 2.1 prints 24 heads of 128, which is 3,072, not d_model 2,048; we keep d_model and d_head 128, so 16 heads."),
        Paper("gpt3-2.7b", 32, 2560, 32, 1, 1.6e-4, "2.7B"),
        Paper("gpt3-6.7b", 32, 4096, 32, 2, 1.2e-4, "6.7B"),
        Paper("gpt3-13b", 40, 5120, 40, 2, 1e-4, "13.0B",
            "Table 2.1 prints d_model 5,140, which 40 heads cannot divide; we read it as 40 x 128 = 5,120."),
        Paper("gpt3-175b", 96, 12288, 96, 3.2, 0.6e-4, "175.0B"),
        Small("char-tiny", 4, 128, 4, 64, 65, 12 * 64, 1e-3, "nanoGPT's CPU character-level Shakespeare model."),
        Small("mini", 6, 384, 6, 256, 8192, 8 * 256, 1e-3, "The benchmark configuration: 6 layers, 6 heads, d 384, ctx 256, vocab 8192."),
        Small("demo", 4, 256, 4, 256, 8192, 16 * 256, 1e-3, "What `fewshot demo` trains: a few minutes on two CPU cores."),
    ];

    public static Preset Get(string name) =>
        All.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown preset '{name}' (known: {string.Join(", ", All.Select(p => p.Name))})");
}
