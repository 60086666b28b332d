// The commands share one static CommandRunner.ContextFactory, another reason this assembly's tests run one at a time.
namespace FewShot.Cli.Tests;

/// <summary>The repository's test fixtures (see tests/Shared/TestEnvironment.cs).</summary>
public static class TestPaths
{
    public static string Fixture(string name) => TestEnvironment.Fixture(name);
}
