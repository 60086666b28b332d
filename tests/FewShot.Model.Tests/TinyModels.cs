using static TorchSharp.torch;

namespace FewShot.Model.Tests;

/// <summary>Small random models for behaviour tests; seeded, so every run builds the same weights.</summary>
public static class TinyModels
{
    public static Gpt Create(int layers = 2, int context = 64, int vocab = 97, AttentionKind[]? kinds = null, int window = 8, long seed = 1234)
    {
        manual_seed(seed);
        var model = new Gpt(new GptConfig
        {
            VocabSize = vocab, ContextLength = context, Layers = layers, Heads = 4, Embedding = 32,
            AttentionTypes = kinds ?? [], Window = window,
        });
        model.eval();
        return model;
    }

    public static Tensor RandomIds(long batch, long length, int vocab = 97, long seed = 7)
    {
        using var g = new Generator((ulong)seed);
        return randint(0, vocab, [batch, length], generator: g);
    }
}
