// The commands share one static CommandRunner.ContextFactory, another reason this assembly's tests run one at a time.
namespace FewShot.Cli.Tests;

/// <summary>Where the shared fixtures are (see tests/Shared/TestEnvironment.cs).</summary>
public static class TestPaths
{
    public static string Shared => TestEnvironment.Shared;
    public static string Fixture(string name) => TestEnvironment.Fixture(name);
}
