namespace FewShot.Training.Tests;

/// <summary>Real text and the built `fewshot` program, found from the test binary.</summary>
public static class TestPaths
{

    public static string Shakespeare => TestEnvironment.Shakespeare;

    public static string RepositoryRoot => TestEnvironment.RepositoryRoot;

    /// <summary>The fewshot.dll built next to this test (same configuration).</summary>
    public static string CliDll
    {
        get
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name; // bin/<cfg>/net10.0
            return Path.Combine(RepositoryRoot, "src", "FewShot.Cli", "bin", configuration, "net10.0", "fewshot.dll");
        }
    }

}
