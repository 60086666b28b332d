using System.Runtime.CompilerServices;

namespace FewShot.Training.Tests;

/// <summary>Finds ../shared (real text) and the built `fewshot` program from the test binary.</summary>
public static class TestPaths
{
    [ModuleInitializer]
    internal static void LoadNativeRuntime() => FewShot.Model.Runtime.NativeRuntime.EnsureRegistered();

    static string Above(Func<string, bool> found, string what)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (found(dir.FullName)) return dir.FullName;
        throw new DirectoryNotFoundException($"{what} not found above {AppContext.BaseDirectory}");
    }

    public static string Shared => Path.Combine(Above(d => Directory.Exists(Path.Combine(d, "shared", "data")), "../shared"), "shared");

    public static string Shakespeare => Path.Combine(Shared, "data", "tinyshakespeare.txt");

    public static string RepositoryRoot => Above(d => File.Exists(Path.Combine(d, "FewShot.slnx")), "FewShot.slnx");

    /// <summary>The fewshot.dll built next to this test (same configuration).</summary>
    public static string CliDll
    {
        get
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name; // bin/<cfg>/net10.0
            return Path.Combine(RepositoryRoot, "src", "FewShot.Cli", "bin", configuration, "net10.0", "fewshot.dll");
        }
    }

    /// <summary>A fresh temporary folder, removed when disposed.</summary>
    public sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("fewshot-train-test-").FullName;
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }
}
