using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FewShot.Evaluation.TaskFiles;

/// <summary>How a task is scored.</summary>
public enum OutputType
{
    /// <summary>Is the answer the model's greedy continuation of the prompt (and its log-likelihood).</summary>
    LogLikelihood,
    /// <summary>Which of the listed choices the model finds most likely.</summary>
    MultipleChoice,
    /// <summary>Free text until a stop sequence, compared with the answer.</summary>
    GenerateUntil,
    /// <summary>Perplexity of whole documents.</summary>
    LogLikelihoodRolling,
}

/// <summary>Where a split's documents come from: a JSONL file, or a built-in generator with a seed and a count.</summary>
public sealed record SourceSpec(string? Jsonl, string? Generator, int? Count, int Seed)
{
    public override string ToString() => Jsonl ?? $"generator {Generator} (seed {Seed})";
}

/// <summary>
/// A task file (JSON): what the documents are, how one becomes a prompt and an answer, and how it is scored.
/// See docs/evaluation.md for the format. <see cref="Load"/> and <see cref="Parse"/> name the file and field of any error.
/// </summary>
public sealed record TaskConfig
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    public required IReadOnlyDictionary<string, SourceSpec> Splits { get; init; }
    public required string DemoSplit { get; init; }
    public required string EvalSplit { get; init; }
    public string? OodSplit { get; init; }
    public required string QueryTemplate { get; init; }
    public required string AnswerTemplate { get; init; }
    public string AnswerDelimiter { get; init; } = " ";
    public string ExampleSeparator { get; init; } = "\n\n";
    public string DescriptionSeparator { get; init; } = "\n\n";
    public required OutputType OutputType { get; init; }
    public required IReadOnlyList<string> Metrics { get; init; }
    public int DefaultShots { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = ["\n"];
    public int MaxNewTokens { get; init; } = 32;
    /// <summary>"greedy" or "beam" (width <see cref="BeamWidth"/>, length penalty <see cref="LengthPenalty"/>).</summary>
    public string Decoding { get; init; } = "greedy";
    public int BeamWidth { get; init; } = 4;
    public double LengthPenalty { get; init; } = 0.6;
    /// <summary>Where the file came from ("builtin:2D+" or a path); relative JSONL paths resolve against its folder.</summary>
    public required string Origin { get; init; }
    /// <summary>The first 16 hex digits of the SHA-256 of the file's text: results name the exact task they measured.</summary>
    public required string Hash { get; init; }

    public string PrimaryMetric => Metrics[0];

    public static IReadOnlyList<string> MetricsFor(OutputType type) => type switch
    {
        OutputType.LogLikelihood => ["acc", "loglikelihood"],
        OutputType.MultipleChoice => ["acc_per_token", "acc", "acc_per_char", "acc_unconditional"],
        OutputType.GenerateUntil => ["exact_match", "f1"],
        _ => ["bits_per_byte", "perplexity"],
    };

    public static TaskConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: task file not found");
        return Parse(File.ReadAllText(path), path, Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    /// <summary>Parses a task file's text; <paramref name="where"/> names it in errors, <paramref name="folder"/> anchors relative paths.</summary>
    public static TaskConfig Parse(string text, string where, string? folder)
    {
        JsonObject o;
        try { o = JsonNode.Parse(text) as JsonObject ?? throw new FormatException($"{where}: expected a JSON object"); }
        catch (JsonException e) { throw new FormatException($"{where}: not valid JSON ({e.Message})"); }

        string? Text(string key, bool required)
        {
            var node = o[key];
            if (node is null) return required ? throw new FormatException($"{where}: missing field '{key}'") : null;
            return node is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new FormatException($"{where}: field '{key}' must be a string");
        }
        int Int(string key, int fallback)
        {
            var node = o[key];
            if (node is null) return fallback;
            return node is JsonValue v && v.TryGetValue<int>(out var i) ? i : throw new FormatException($"{where}: field '{key}' must be an integer");
        }

        var name = Text("name", true)!;
        var splits = ParseSplits(o["splits"], where, folder);
        var type = ParseType(Text("output_type", true)!, where);
        var evalSplit = Text("eval_split", false) ?? (splits.ContainsKey("test") ? "test" : splits.Count == 1 ? splits.Keys.First()
            : throw new FormatException($"{where}: field 'eval_split' is needed when no split is named 'test'"));
        var demoSplit = Text("demo_split", false) ?? (splits.ContainsKey("train") ? "train" : evalSplit);
        var oodSplit = Text("ood_split", false);
        foreach (var (field, split) in new[] { ("eval_split", evalSplit), ("demo_split", demoSplit), ("ood_split", oodSplit) })
            if (split is not null && !splits.ContainsKey(split))
                throw new FormatException($"{where}: field '{field}' names split '{split}', which 'splits' does not define");

        var metrics = o["metrics"] is JsonArray m
            ? m.Select(x => x?.GetValue<string>() ?? "").ToArray()
            : o["metrics"] is null ? MetricsFor(type) : throw new FormatException($"{where}: field 'metrics' must be a list of names");
        var known = MetricsFor(type);
        if (metrics.Count == 0) throw new FormatException($"{where}: field 'metrics' is empty");
        foreach (var metric in metrics)
            if (!known.Contains(metric))
                throw new FormatException($"{where}: metric '{metric}' does not apply to {TypeName(type)} (choose from {string.Join(", ", known)})");

        var decoding = Text("decoding", false) ?? "greedy";
        if (decoding is not ("greedy" or "beam")) throw new FormatException($"{where}: field 'decoding' must be 'greedy' or 'beam', got '{decoding}'");
        var stop = o["stop"] is JsonArray s ? s.Select(x => x?.GetValue<string>() ?? "").Where(x => x.Length > 0).ToArray()
            : o["stop"] is JsonValue one ? [one.GetValue<string>()] : (IReadOnlyList<string>)["\n"];
        var shots = Int("num_fewshot", 0);
        if (shots < 0) throw new FormatException($"{where}: field 'num_fewshot' must be >= 0");

        return new TaskConfig
        {
            Name = name,
            Description = Text("description", false),
            Splits = splits,
            DemoSplit = demoSplit,
            EvalSplit = evalSplit,
            OodSplit = oodSplit,
            QueryTemplate = Text("query_template", true)!,
            AnswerTemplate = Text("answer_template", type != OutputType.LogLikelihoodRolling) ?? "",
            AnswerDelimiter = Text("answer_delimiter", false) ?? " ",
            ExampleSeparator = Text("example_separator", false) ?? "\n\n",
            DescriptionSeparator = Text("description_separator", false) ?? "\n\n",
            OutputType = type,
            Metrics = metrics,
            DefaultShots = shots,
            Stop = stop,
            MaxNewTokens = Int("max_new_tokens", 32),
            Decoding = decoding,
            BeamWidth = Int("beam_width", 4),
            LengthPenalty = o["length_penalty"]?.GetValue<double>() ?? 0.6,
            Origin = where,
            Hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16],
        };
    }

    static Dictionary<string, SourceSpec> ParseSplits(JsonNode? node, string where, string? folder)
    {
        if (node is null) throw new FormatException($"{where}: missing field 'splits'");
        if (node is not JsonObject splits || splits.Count == 0)
            throw new FormatException($"{where}: field 'splits' must be an object of named sources, e.g. {{\"test\": {{\"jsonl\": \"test.jsonl\"}}}}");
        var result = new Dictionary<string, SourceSpec>(StringComparer.Ordinal);
        foreach (var (name, value) in splits)
        {
            var at = $"{where}: split '{name}'";
            if (value is not JsonObject source) throw new FormatException($"{at} must be an object with 'jsonl' or 'generator'");
            var jsonl = source["jsonl"]?.GetValue<string>();
            var generator = source["generator"]?.GetValue<string>();
            if ((jsonl is null) == (generator is null)) throw new FormatException($"{at} needs exactly one of 'jsonl' and 'generator'");
            if (jsonl is not null && folder is not null && !Path.IsPathRooted(jsonl)) jsonl = Path.Combine(folder, jsonl);
            int? count = source["count"] is JsonValue c ? c.GetValue<int>() : null;
            if (count < 0) throw new FormatException($"{at}: 'count' must be >= 0");
            result[name] = new SourceSpec(jsonl, generator, count, source["seed"] is JsonValue sv ? sv.GetValue<int>() : 0);
        }
        return result;
    }

    static OutputType ParseType(string text, string where) => text switch
    {
        "loglikelihood" => OutputType.LogLikelihood,
        "multiple_choice" => OutputType.MultipleChoice,
        "generate_until" => OutputType.GenerateUntil,
        "loglikelihood_rolling" => OutputType.LogLikelihoodRolling,
        _ => throw new FormatException($"{where}: field 'output_type' must be loglikelihood, multiple_choice, generate_until or loglikelihood_rolling, got '{text}'"),
    };

    public static string TypeName(OutputType type) => type switch
    {
        OutputType.LogLikelihood => "loglikelihood",
        OutputType.MultipleChoice => "multiple_choice",
        OutputType.GenerateUntil => "generate_until",
        _ => "loglikelihood_rolling",
    };
}
