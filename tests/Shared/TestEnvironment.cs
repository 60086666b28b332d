using System.Runtime.CompilerServices;

// libtorch's random generator is global: two test classes seeding and building models at the same time would get each
// other's numbers. Each assembly's tests run one at a time (the projects themselves already run one after another).
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace FewShot.Testing;

/// <summary>
/// What every test project needs, compiled into each of them (tests/Directory.Build.props): the native loader before
/// the first TorchSharp call, the repository's tests/fixtures folder (reference checkpoints and real text), and temporary
/// folders. Everything a test reads lives in the repository: a user's clone has nothing beside it.
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

    /// <summary>A file or folder of tests/fixtures (tests/fixtures/README.md says where each came from).</summary>
    public static string Fixture(string name) => Path.Combine(RepositoryRoot, "tests", "fixtures", name);

    /// <summary>1.1 MB of public-domain text (the char-rnn / nanoGPT Shakespeare), the real text most tests use.</summary>
    public static string Shakespeare => Fixture("tinyshakespeare.txt");

    public static string RepositoryRoot => Above(d => File.Exists(Path.Combine(d, "FewShot.slnx")), "FewShot.slnx");
}

/// <summary>A fresh temporary folder, removed when disposed.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("fewshot-test-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}
