using System.Text.Json.Nodes;
using FewShot.Model.Tokenization;

namespace FewShot.Training.Batches;

/// <summary>
/// A single text file: tokenized whole, the first 90% of the tokens for training and the last 10% held out. Training
/// windows start at uniformly random offsets drawn from a seeded generator whose state travels in the checkpoint
/// (nanoGPT's get_batch); validation windows are fixed offsets drawn once from a separate generator.
/// </summary>
public sealed class TextBatchSource : WindowBatchSource
{
    readonly int[] train, validation;
    readonly SplitMix64 random;
    readonly ulong validationSeed;
    readonly string name;

    public TextBatchSource(int[] tokens, long seed, string name = "text")
    {
        var split = (int)(tokens.LongLength * 9 / 10);
        train = tokens[..split];
        validation = tokens[split..];
        random = new SplitMix64((ulong)seed);
        validationSeed = (ulong)seed ^ 0x5EED_0F_7E57UL;
        this.name = name;
    }

    public static TextBatchSource FromFile(string path, ITokenizer tokenizer, long seed)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: text file not found");
        var text = File.ReadAllText(path);
        int[] tokens;
        try { tokens = tokenizer.Encode(text); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}"); }
        return new TextBatchSource(tokens, seed, Path.GetFileName(path));
    }

    public int TrainTokens => train.Length;
    public int ValidationTokens => validation.Length;

    public override string Description => $"text:{name} ({train.Length:N0} training tokens, {validation.Length:N0} validation tokens)";

    /// <summary>Throws <see cref="ArgumentException"/> when a window of context + 1 tokens does not fit either split.</summary>
    public void CheckContext(int context)
    {
        var shortest = Math.Min(train.Length, validation.Length);
        if (shortest < context + 1)
            throw new ArgumentException($"n_ctx {context} is longer than the data: the {(train.Length < validation.Length ? "training" : "validation")} split has only {shortest} tokens (a window needs {context + 1})");
    }

    protected override void NextTrainingWindow(Span<int> window) =>
        train.AsSpan((int)random.Below(train.Length - window.Length + 1), window.Length).CopyTo(window);

    protected override void ValidationWindow(long index, Span<int> window)
    {
        var r = new SplitMix64(validationSeed + (ulong)index * 0x9E3779B97F4A7C15UL);
        validation.AsSpan((int)r.Below(validation.Length - window.Length + 1), window.Length).CopyTo(window);
    }

    public override JsonNode SaveState() => new JsonObject { ["kind"] = "text", ["rng"] = random.State.ToString(), ["train_tokens"] = train.Length };

    public override void RestoreState(JsonNode state)
    {
        if (state["kind"]?.GetValue<string>() != "text" || state["train_tokens"]?.GetValue<int>() != train.Length)
            throw new InvalidDataException($"the checkpoint's data position belongs to a different data source than {Description}");
        random.State = ulong.Parse(state["rng"]!.GetValue<string>());
    }
}
