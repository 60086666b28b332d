using FewShot.Data.Builtin;

namespace FewShot.Data.Tests;

/// <summary>The repository's sibling ../shared folder (real text), temporary folders, and the built-in corpus built once per run.</summary>
public static class TestPaths
{
    public static string Shared
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared");
                if (Directory.Exists(Path.Combine(candidate, "data"))) return candidate;
            }
            throw new DirectoryNotFoundException("../shared (data) not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Shakespeare => Path.Combine(Shared, "data", "tinyshakespeare.txt");

    /// <summary>Shakespeare's speeches (blank-line separated), the real-text documents most tests use.</summary>
    public static IReadOnlyList<string> Speeches { get; } = File.ReadAllText(Shakespeare).Split("\n\n").Where(s => s.Length > 200).ToArray();

    static readonly Lazy<string> builtinCache = new(() =>
    {
        var folder = Path.Combine(Path.GetTempPath(), "fewshot-test-builtin-cache");
        BuiltinCorpus.Ensure(folder);
        return folder;
    });

    /// <summary>The built-in corpus, built once per machine into a shared temporary cache (reused across test runs).</summary>
    public static string BuiltinCache => builtinCache.Value;

    public sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("fewshot-data-test-").FullName;
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }
}
