using System.Text.Json.Serialization;

namespace FewShot.Evaluation.Running;

/// <summary>
/// One measured number. Mode: "icl" (in-context), "finetune" (weights updated on the K demonstrations, prompted
/// zero-shot) or "bag_of_words" (the baseline classifier). Split: "iid" or "ood". Subset: "all" or "clean" (no 13-gram
/// overlap with the training data).
/// </summary>
public sealed record MetricRow(string Task, string ConfigHash, string Mode, int Shots, double EffectiveShots, bool Description,
    string Split, string Subset, string Metric, double Value, [property: JsonPropertyName("stderr")] double StdErr, int N, int Seed);

/// <summary>One scored example, as the per-example JSONL records it.</summary>
public sealed record ExampleRow(string Task, string Mode, int Shots, bool Description, string Split, int Index, string Prompt,
    string Answer, string? Prediction, double Score, int EffectiveShots, bool? Contaminated);

/// <summary>Checked: the examples long enough to hold an n-gram (13 words); Contaminated: those among them found in the training data.</summary>
public sealed record ContaminationRow(string Task, string Split, int Checked, int Contaminated);

/// <summary>The model evaluated; <see cref="BaseUrl"/> is the API it was evaluated through (null in-process), never a key.</summary>
public sealed record ModelSummary(string Name, string Hash, long Parameters, int Layers, int Embedding, int ContextLength, string Tokenizer, string? BaseUrl = null);

public sealed record TaskSummary(string Name, string ConfigHash, string Origin, string OutputType, string PrimaryMetric);

/// <summary>Everything one `fewshot eval` run measured.</summary>
public sealed record EvalReport(ModelSummary Model, int Seed, IReadOnlyList<TaskSummary> Tasks, IReadOnlyList<MetricRow> Results,
    IReadOnlyList<ExampleRow> Examples, IReadOnlyList<ContaminationRow> Contamination);
