using System.Text.Json.Nodes;

namespace FewShot.Model.Tests;

public sealed class ConfigTests
{
    [Fact]
    public void AttentionTypesRoundTripInGptNeoForm()
    {
        var json = JsonNode.Parse("""{"n_layer": 6, "n_head": 2, "n_embd": 8, "n_ctx": 16, "vocab_size": 10, "window_size": 4, "attention_types": [["dense", "local"], 3]}""")!;
        var config = GptConfig.FromJson(json, "test");
        Assert.Equal([AttentionKind.Dense, AttentionKind.Local, AttentionKind.Dense, AttentionKind.Local, AttentionKind.Dense, AttentionKind.Local], config.AttentionTypes);
        var again = GptConfig.FromJson(config.ToJson(), "again");
        Assert.Equal(config.AttentionTypes, again.AttentionTypes);
        Assert.Equal("[[[\"dense\",\"local\"],3]]", again.ToJson()["attention_types"]!.ToJsonString());
    }

    [Theory]
    [InlineData("""{"n_layer": 2, "n_head": 3, "n_embd": 8}""", "n_embd")]
    [InlineData("""{"n_layer": 2, "n_head": 2, "n_embd": 8, "attention_types": [["dense"], 3]}""", "attention_types")]
    [InlineData("""{"n_layer": 2, "n_head": 2, "n_embd": 8, "n_ctx": 16, "attention_types": [["local"], 2], "window_size": 0}""", "window_size")]
    [InlineData("""{"n_layer": 2, "n_head": 2, "n_embd": 8, "attention_types": [["sparse"], 2]}""", "sparse")]
    [InlineData("""{"n_layer": "two"}""", "n_layer")]
    [InlineData("""{"n_layer": 2, "n_head": 2, "n_embd": 8, "attention_types": [["fixed"], 2], "sparse_stride": 4, "sparse_summary": 5}""", "sparse_summary")]
    [InlineData("""{"n_layer": 2, "n_head": 3, "n_embd": 9, "attention_types": [["strided"], 2]}""", "sparse_split")]
    [InlineData("""{"n_layer": 2, "n_head": 2, "n_embd": 8, "attention_types": [["strided"], 2], "sparse_split": "rows"}""", "sparse_split")]
    public void ImpossibleConfigsNameTheField(string json, string field)
    {
        var e = Assert.Throws<FormatException>(() => GptConfig.FromJson(JsonNode.Parse(json)!, "config.json"));
        Assert.Contains(field, e.Message);
        Assert.StartsWith("config.json", e.Message);
    }
}
