using FewShot.Data.Builtin;

namespace FewShot.Data.Tests;

/// <summary>Real text and the built-in corpus built once per run (the rest: tests/Shared/TestEnvironment.cs).</summary>
public static class TestPaths
{
    public static string Shakespeare => TestEnvironment.Shakespeare;

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

}
