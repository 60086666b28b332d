using System.Runtime.CompilerServices;
using FewShot.Evaluation.Scoring;
using FewShot.Model;
using FewShot.Model.Tokenization;

namespace FewShot.Evaluation.Tests;

/// <summary>The native loader, ../shared, temporary folders and tiny random models.</summary>
public static class TestSupport
{
    [ModuleInitializer]
    internal static void LoadNativeRuntime() => FewShot.Model.Runtime.NativeRuntime.EnsureRegistered();

    public static string Shared
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared");
                if (Directory.Exists(Path.Combine(candidate, "fixtures"))) return candidate;
            }
            throw new DirectoryNotFoundException("../shared (fixtures and data) not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Fixture(string name) => Path.Combine(Shared, "fixtures", name);

    /// <summary>A random byte-level GPT: any text is a valid prompt.</summary>
    public static LanguageModel TinyModel(int context = 256, int layers = 2, int embedding = 32, int seed = 1)
    {
        TorchSharp.torch.manual_seed(seed);
        var gpt = new Gpt(new GptConfig { VocabSize = 257, ContextLength = context, Layers = layers, Heads = 2, Embedding = embedding });
        return new LanguageModel(gpt, new ByteTokenizer());
    }

    public sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("fewshot-eval-test-").FullName;
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }
}
