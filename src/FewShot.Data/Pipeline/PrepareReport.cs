using System.Text.Json;
using System.Text.Json.Serialization;

namespace FewShot.Data;

/// <summary>What <see cref="DataPipeline.Prepare"/> did to one source, stage by stage.</summary>
public sealed class SourceReport
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("documents_read")] public long DocumentsRead { get; set; }
    /// <summary>Records the readers could not use (bad JSON, missing field, over-long line, truncated file).</summary>
    [JsonPropertyName("skipped_records")] public long SkippedRecords { get; set; }
    [JsonPropertyName("skip_messages")] public IReadOnlyList<string> SkipMessages { get; set; } = [];
    /// <summary>Dropped by cleaning, by reason (empty, too_short, too_long, invalid_utf8).</summary>
    [JsonPropertyName("cleaning_dropped")] public Dictionary<string, long> CleaningDropped { get; init; } = [];
    [JsonPropertyName("utf8_repaired")] public long Utf8Repaired { get; set; }
    [JsonPropertyName("exact_duplicates")] public long ExactDuplicates { get; set; }
    [JsonPropertyName("fuzzy_duplicates")] public long FuzzyDuplicates { get; set; }
    [JsonPropertyName("quality_scored")] public long QualityScored { get; set; }
    [JsonPropertyName("quality_filtered")] public long QualityFiltered { get; set; }
    /// <summary>Kept / scored by the quality filter; null when the filter did not apply to this source.</summary>
    [JsonPropertyName("quality_keep_ratio")] public double? QualityKeepRatio => QualityScored == 0 ? null : 1 - (double)QualityFiltered / QualityScored;
    [JsonPropertyName("decontaminated")] public long Decontaminated { get; set; }
    [JsonPropertyName("documents_written")] public long DocumentsWritten { get; set; }
    [JsonPropertyName("val_documents")] public long ValDocuments { get; set; }
    [JsonPropertyName("tokens_written")] public long TokensWritten { get; set; }
    [JsonPropertyName("val_tokens")] public long ValTokens { get; set; }
    [JsonPropertyName("text_bytes")] public long TextBytes { get; set; }

    [JsonIgnore] public long CleaningDroppedTotal => CleaningDropped.Values.Sum();
}

/// <summary>The summary of a prepare run (also saved as report.json in the output folder).</summary>
public sealed record PrepareReport
{
    public const string FileName = "report.json";

    [JsonPropertyName("out_dir")] public required string OutDir { get; init; }
    [JsonPropertyName("tokenizer")] public required string Tokenizer { get; init; }
    [JsonPropertyName("sources")] public required IReadOnlyList<SourceReport> Sources { get; init; }
    [JsonPropertyName("warnings")] public IReadOnlyList<string> Warnings { get; init; } = [];
    [JsonPropertyName("quality_training_accuracy")] public double? QualityTrainingAccuracy { get; init; }
    [JsonPropertyName("quality_histogram")] public string? QualityHistogram { get; init; }
    [JsonPropertyName("eval_index_ngrams")] public long EvalIndexNGrams { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
    [JsonPropertyName("total_tokens")] public long TotalTokens => Sources.Sum(s => s.TokensWritten + s.ValTokens);

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });
}
