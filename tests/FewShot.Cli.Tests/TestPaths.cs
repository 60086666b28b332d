using System.Runtime.CompilerServices;

// The commands share one static CommandRunner.ContextFactory: run the tests of this assembly one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace FewShot.Cli.Tests;

/// <summary>Locates the repository's sibling ../shared folder (fixtures and real text) from the test binary.</summary>
public static class TestPaths
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

    /// <summary>A fresh temporary folder, removed when disposed.</summary>
    public sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("fewshot-cli-test-").FullName;
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }
}
