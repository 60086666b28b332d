using System.Text.Json.Serialization;
using FewShot.Data.Shards;

namespace FewShot.Data;

/// <summary>What `fewshot data stats DIR [--json]` prints: totals and per-source counts, from manifest.json.</summary>
public sealed record DataStats
{
    [JsonPropertyName("documents")] public long Documents { get; init; }
    [JsonPropertyName("tokens")] public long Tokens { get; init; }
    [JsonPropertyName("text_bytes")] public long TextBytes { get; init; }
    [JsonPropertyName("dtype")] public required string Dtype { get; init; }
    [JsonPropertyName("tokenizer")] public required string Tokenizer { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("shards")] public int Shards { get; init; }
    [JsonPropertyName("sources")] public required IReadOnlyList<SourceTotals> Sources { get; init; }

    public static DataStats Read(string folder)
    {
        var manifest = ShardManifest.Load(folder);
        var rows = manifest.Sources.Select(s =>
        {
            var shards = manifest.Shards.Where(x => x.Source == s.Name).ToList();
            return new SourceTotals
            {
                Name = s.Name, Weight = s.Weight,
                Documents = shards.Sum(x => x.Documents), Tokens = shards.Sum(x => x.Tokens), TextBytes = shards.Sum(x => x.TextBytes),
                ValDocuments = shards.Where(x => x.Split == "val").Sum(x => x.Documents), ValTokens = shards.Where(x => x.Split == "val").Sum(x => x.Tokens),
            };
        }).ToList();
        return new DataStats
        {
            Documents = rows.Sum(r => r.Documents), Tokens = rows.Sum(r => r.Tokens), TextBytes = rows.Sum(r => r.TextBytes),
            Dtype = manifest.Dtype, Tokenizer = manifest.Tokenizer.Kind, VocabSize = manifest.Tokenizer.VocabSize,
            Shards = manifest.Shards.Count, Sources = rows,
        };
    }
}
