using FewShot.Evaluation.Scoring;
using FewShot.Model;
using FewShot.Model.Tokenization;

namespace FewShot.Evaluation.Tests;

/// <summary>Tiny random models and the test fixtures (the rest: tests/Shared/TestEnvironment.cs).</summary>
public static class TestSupport
{
    public static string Fixture(string name) => TestEnvironment.Fixture(name);

    /// <summary>A random byte-level GPT: any text is a valid prompt.</summary>
    public static LanguageModel TinyModel(int context = 256, int layers = 2, int embedding = 32, int seed = 1)
    {
        TorchSharp.torch.manual_seed(seed);
        var gpt = new Gpt(new GptConfig { VocabSize = 257, ContextLength = context, Layers = layers, Heads = 2, Embedding = embedding });
        return new LanguageModel(gpt, new ByteTokenizer());
    }

}
