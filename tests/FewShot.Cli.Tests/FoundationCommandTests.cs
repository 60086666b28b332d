using System.Text.Json;

namespace FewShot.Cli.Tests;

/// <summary>The foundation issue's command-line must-shows: model sizes, and greedy sampling of an imported checkpoint.</summary>
public sealed class FoundationCommandTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void InfoOfGpt3175BReports175BillionParameters()
    {
        var result = Cli.Run("info", "--preset", "gpt3-175b", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var parameters = result.Json.GetProperty("parameters").GetDouble();
        Assert.InRange(parameters, 175e9 * 0.99, 175e9 * 1.01);
    }

    [Fact]
    public void SampleOfImportedGpt2TinyGivesTheReferenceGreedyContinuation()
    {
        var fixture = TestPaths.Fixture("gpt2-tiny");
        var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "expected.json"))).RootElement.GetProperty("greedy");
        var prompt = expected.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var continuation = expected.GetProperty("continuation").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var model = Path.Combine(temp.Path, "model");

        var imported = Cli.Run("import-hf", fixture, "--out", model);
        Assert.True(imported.ExitCode == 0, imported.ToString());
        var sampled = Cli.Run("sample", "--model", model, "--prompt-ids", string.Join(',', prompt),
            "--max-tokens", continuation.Length.ToString(), "--temperature", "0", "--json");
        Assert.True(sampled.ExitCode == 0, sampled.ToString());
        Assert.Equal(12, continuation.Length);
        Assert.Equal(continuation, sampled.Json.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(prompt, sampled.Json.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));
    }
}
