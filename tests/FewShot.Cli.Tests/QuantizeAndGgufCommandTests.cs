namespace FewShot.Cli.Tests;

/// <summary>fewshot quantize and export-gguf end to end, and their bad input: one line, exit 2, no partial file.</summary>
public sealed class QuantizeAndGgufCommandTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    string ImportFixture(string name)
    {
        var model = Path.Combine(temp.Path, name);
        var imported = Cli.Run("import-hf", TestPaths.Fixture("gpt2-tiny"), "--out", model);
        Assert.True(imported.ExitCode == 0, imported.ToString());
        return model;
    }

    static void AssertOneLineError(CliResult result, string expected)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(expected, lines[0]);
    }

    [Fact]
    public void QuantizedFolderIsSmallerAndSamplesThroughEitherDecoder()
    {
        var model = ImportFixture("model");
        var quantized = Cli.Run("quantize", model, "--type", "q8_0", "--json");
        Assert.True(quantized.ExitCode == 0, quantized.ToString());
        Assert.True(quantized.Json.GetProperty("bytes_after").GetInt64() < quantized.Json.GetProperty("bytes_before").GetInt64() / 2);
        foreach (var weights in new[] { "q8_0", "f32", "torch" })
        {
            var sampled = Cli.Run("sample", "--model", model, "--prompt-ids", "1,2,3", "--max-tokens", "5", "--temperature", "0", "--weights", weights, "--json");
            Assert.True(sampled.ExitCode == 0, sampled.ToString());
            Assert.Equal(5, sampled.Json.GetProperty("ids").GetArrayLength());
        }
    }

    [Fact]
    public void UnknownQuantisationTypeIsOneLine()
    {
        var model = ImportFixture("model");
        AssertOneLineError(Cli.Run("quantize", model, "--type", "q4_k"), "unknown weight format 'q4_k'");
    }

    [Fact]
    public void GgufExportWritesAGgufFile()
    {
        var model = ImportFixture("model");
        var path = Path.Combine(temp.Path, "tiny.gguf");
        var exported = Cli.Run("export-gguf", model, path, "--type", "q8_0", "--json");
        Assert.True(exported.ExitCode == 0, exported.ToString());
        Assert.Equal("GGUF"u8.ToArray(), File.ReadAllBytes(path)[..4]);
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void GgufExportOfLocalLayersIsRefusedWithoutAFile()
    {
        var model = ImportFixture("model");
        var config = Path.Combine(model, "config.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(config))!;
        json["attention_types"] = System.Text.Json.Nodes.JsonNode.Parse("[[[\"dense\", \"local\"], 1]]");
        json["window_size"] = 16;
        File.WriteAllText(config, json.ToJsonString());
        var path = Path.Combine(temp.Path, "local.gguf");
        AssertOneLineError(Cli.Run("export-gguf", model, path), "layer 1 uses local attention");
        Assert.Empty(Directory.GetFiles(temp.Path, "*.gguf*"));
    }
}
