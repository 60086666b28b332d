using System.Runtime.CompilerServices;

// libtorch's random generator is global: two test classes seeding and building models at the same time would get each
// other's numbers. Each assembly's tests run one at a time (the projects themselves already run one after another).
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace FewShot.Testing;

/// <summary>
/// What every test project needs, compiled into each of them (tests/Directory.Build.props): the native loader before
/// the first TorchSharp call, the repository's sibling ../shared folder (fixtures and real text), and temporary folders.
/// </summary>
public static class TestEnvironment
{
    [ModuleInitializer]
    internal static void LoadNativeRuntime() => FewShot.Model.Runtime.NativeRuntime.EnsureRegistered();

    static string Above(Func<string, bool> found, string what)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (found(dir.FullName)) return dir.FullName;
        throw new DirectoryNotFoundException($"{what} not found above {AppContext.BaseDirectory}");
    }

    /// <summary>../shared beside the repository: fixtures/ and data/.</summary>
    public static string Shared => Path.Combine(Above(d => Directory.Exists(Path.Combine(d, "shared", "fixtures")), "../shared (fixtures and data)"), "shared");

    public static string Fixture(string name) => Path.Combine(Shared, "fixtures", name);

    public static string Shakespeare => Path.Combine(Shared, "data", "tinyshakespeare.txt");

    public static string RepositoryRoot => Above(d => File.Exists(Path.Combine(d, "FewShot.slnx")), "FewShot.slnx");
}

/// <summary>A fresh temporary folder, removed when disposed.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("fewshot-test-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}
