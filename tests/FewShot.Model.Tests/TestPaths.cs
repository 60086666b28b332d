namespace FewShot.Model.Tests;

/// <summary>Where the shared fixtures are (see tests/Shared/TestEnvironment.cs).</summary>
public static class TestPaths
{
    public static string Shared => TestEnvironment.Shared;
    public static string Fixture(string name) => TestEnvironment.Fixture(name);
}
