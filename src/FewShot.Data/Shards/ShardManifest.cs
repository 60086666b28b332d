using System.Text.Json;
using System.Text.Json.Serialization;
using FewShot.Model.Tokenization;

namespace FewShot.Data.Shards;

/// <summary>One binary shard: a run of little-endian token ids, documents separated by end-of-text.</summary>
public sealed record ShardInfo
{
    [JsonPropertyName("file")] public required string File { get; init; }
    [JsonPropertyName("source")] public required string Source { get; init; }
    /// <summary>"train" or "val".</summary>
    [JsonPropertyName("split")] public required string Split { get; init; }
    [JsonPropertyName("tokens")] public long Tokens { get; init; }
    [JsonPropertyName("documents")] public long Documents { get; init; }
    [JsonPropertyName("text_bytes")] public long TextBytes { get; init; }
    [JsonPropertyName("sha256")] public required string Sha256 { get; init; }
}

/// <summary>Per-source totals of a prepared data folder (train and validation splits together); also what `data stats` reports per source.</summary>
public sealed record SourceTotals
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("weight")] public double Weight { get; init; }
    [JsonPropertyName("documents")] public long Documents { get; init; }
    [JsonPropertyName("tokens")] public long Tokens { get; init; }
    [JsonPropertyName("text_bytes")] public long TextBytes { get; init; }
    [JsonPropertyName("val_documents")] public long ValDocuments { get; init; }
    [JsonPropertyName("val_tokens")] public long ValTokens { get; init; }
}

/// <summary>
/// manifest.json of a prepared data folder, written last: a folder without it is incomplete and is never read.
/// </summary>
public sealed record ShardManifest
{
    public const string FileName = "manifest.json";
    public const string CurrentFormat = "fewshot-token-shards/1";

    [JsonPropertyName("format")] public string Format { get; init; } = CurrentFormat;
    /// <summary>"uint16" (vocabulary up to 65,536) or "uint32".</summary>
    [JsonPropertyName("dtype")] public required string Dtype { get; init; }
    [JsonPropertyName("tokenizer")] public required TokenizerDescription Tokenizer { get; init; }
    [JsonPropertyName("end_of_text")] public int EndOfText { get; init; }
    [JsonPropertyName("sources")] public required IReadOnlyList<SourceTotals> Sources { get; init; }
    [JsonPropertyName("shards")] public required IReadOnlyList<ShardInfo> Shards { get; init; }
    [JsonPropertyName("eval_index")] public string? EvalIndex { get; init; }
    [JsonPropertyName("train_ngrams")] public string? TrainNGrams { get; init; }

    [JsonIgnore] public int BytesPerToken => Dtype == "uint16" ? 2 : 4;

    public static ShardManifest Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException(Directory.Exists(folder)
                ? $"{folder}: no {FileName}, so this data folder is incomplete (an interrupted prepare?); run `fewshot data prepare` again"
                : $"{folder}: data folder not found");
        try
        {
            var manifest = JsonSerializer.Deserialize<ShardManifest>(File.ReadAllText(path)) ?? throw new FormatException($"{path}: empty");
            if (manifest.Format != CurrentFormat) throw new FormatException($"{path}: format '{manifest.Format}' is not '{CurrentFormat}'");
            if (manifest.Dtype is not ("uint16" or "uint32")) throw new FormatException($"{path}: dtype '{manifest.Dtype}' must be uint16 or uint32");
            return manifest;
        }
        catch (JsonException e) { throw new FormatException($"{path}: {e.Message}"); }
    }

    public void Save(string folder) =>
        Model.AtomicFile.WriteAllText(Path.Combine(folder, FileName), JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
}
