namespace FewShot.Model.Tests;

/// <summary>The repository's test fixtures (see tests/Shared/TestEnvironment.cs).</summary>
public static class TestPaths
{
    public static string Fixture(string name) => TestEnvironment.Fixture(name);
}
