using System.Text.Json;
using System.Text.Json.Serialization;

namespace FewShot.Data.Mixture;

/// <summary>One corpus of a mixture: where its documents are (or, for planning only, how many tokens it has) and its weight.</summary>
public sealed record SourceSpec
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    /// <summary>Files, directories or globs, relative to the mixture file's folder.</summary>
    [JsonPropertyName("paths")] public IReadOnlyList<string> Paths { get; init; } = [];
    /// <summary>txt, md, jsonl, jsonl.gz, jsonl.zst or parquet; inferred from each file's extension when absent.</summary>
    [JsonPropertyName("format")] public string? Format { get; init; }
    /// <summary>The JSON field or Parquet column with the text (default "text").</summary>
    [JsonPropertyName("text_field")] public string? TextField { get; init; } = "text";
    /// <summary>For text files: the string between documents (e.g. "\n\n\n"); absent = one document per file.</summary>
    [JsonPropertyName("separator")] public string? Separator { get; init; }
    /// <summary>Share of training sequences drawn from this source (normalised over the mixture).</summary>
    [JsonPropertyName("weight")] public double Weight { get; init; }
    /// <summary>Size for planning without data (e.g. 410e9); prepared data supplies its own count.</summary>
    [JsonPropertyName("tokens")] public double? Tokens { get; init; }
    /// <summary>"reference": quality-filter positives (kept as is); "raw": quality-filtered, and its negatives; absent: neither.</summary>
    [JsonPropertyName("role")] public string? Role { get; init; }

    /// <summary>The weight as written in the mixture file when loading normalised it (Table 2.2's weights sum to 101%).</summary>
    [JsonIgnore] public double? DeclaredWeight { get; init; }

    [JsonIgnore] public bool IsReference => string.Equals(Role, "reference", StringComparison.OrdinalIgnoreCase);
    [JsonIgnore] public bool IsRaw => string.Equals(Role, "raw", StringComparison.OrdinalIgnoreCase);
}

/// <summary>An evaluation set whose 13-grams are removed from training data (JSON Lines: all string fields; text: whole lines).</summary>
public sealed record EvalSetSpec
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("paths")] public IReadOnlyList<string> Paths { get; init; } = [];
    [JsonPropertyName("format")] public string? Format { get; init; }
    /// <summary>The field to index; absent = every string field of each JSON line (context and completion alike).</summary>
    [JsonPropertyName("text_field")] public string? TextField { get; init; }
}

/// <summary>
/// A data mixture (GPT-3's Table 2.2 as a file): sources with weights, the tokenizer, and evaluation sets to
/// decontaminate against. Load with <see cref="Load"/>; the built-in corpus with <see cref="Builtin"/>.
/// </summary>
public sealed record MixtureSpec
{
    [JsonPropertyName("sources")] public IReadOnlyList<SourceSpec> Sources { get; init; } = [];
    /// <summary>r50k_base (gpt2), bytes, "bpe:N" (train an N-token byte-level BPE on the mixture), or a folder holding tokenizer.json.</summary>
    [JsonPropertyName("tokenizer")] public string Tokenizer { get; init; } = "r50k_base";
    [JsonPropertyName("eval_sets")] public IReadOnlyList<EvalSetSpec> EvalSets { get; init; } = [];

    /// <summary>The folder relative paths are resolved against (the mixture file's folder).</summary>
    [JsonIgnore] public string BaseDirectory { get; init; } = Directory.GetCurrentDirectory();
    /// <summary>What loading adjusted (weights normalised, ...), for the caller to show.</summary>
    [JsonIgnore] public IReadOnlyList<string> Warnings { get; init; } = [];

    public static MixtureSpec Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: mixture file not found");
        MixtureSpec? spec;
        try { spec = JsonSerializer.Deserialize<MixtureSpec>(File.ReadAllText(path), JsonOptions); }
        catch (JsonException e) { throw new FormatException($"{path}: {e.Message}"); }
        if (spec is null) throw new FormatException($"{path}: empty mixture");
        return spec.Validated(path) with { BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(path))! };
    }

    public static MixtureSpec Parse(string json, string baseDirectory, string origin = "mixture")
    {
        MixtureSpec? spec;
        try { spec = JsonSerializer.Deserialize<MixtureSpec>(json, JsonOptions); }
        catch (JsonException e) { throw new FormatException($"{origin}: {e.Message}"); }
        return (spec ?? throw new FormatException($"{origin}: empty mixture")).Validated(origin) with { BaseDirectory = baseDirectory };
    }

    /// <summary>The built-in corpus (built into <paramref name="cacheDirectory"/> on first use; see docs/data.md).</summary>
    public static MixtureSpec Builtin(string? cacheDirectory = null, IProgress<StageProgress>? progress = null) =>
        Data.Builtin.BuiltinCorpus.Mixture(cacheDirectory, progress);

    /// <summary>Checks names, weights and roles; weights that do not sum to 1 are normalised with a warning.</summary>
    public MixtureSpec Validated(string origin)
    {
        if (Sources is null || Sources.Count == 0) throw new FormatException($"{origin}: field 'sources' names no source (a mixture needs at least one)");
        var warnings = new List<string>(Warnings);
        var names = new HashSet<string>();
        for (var i = 0; i < Sources.Count; i++)
        {
            var s = Sources[i];
            if (string.IsNullOrWhiteSpace(s.Name)) throw new FormatException($"{origin}: sources[{i}]: field 'name' is required");
            if (!names.Add(s.Name)) throw new FormatException($"{origin}: sources[{i}]: the name '{s.Name}' is used twice");
            if (s.Name.IndexOfAny([.. Path.GetInvalidFileNameChars(), ' ']) >= 0) throw new FormatException($"{origin}: sources[{i}]: name '{s.Name}' must be usable as a file name");
            if (!(s.Weight >= 0) || double.IsInfinity(s.Weight)) throw new FormatException($"{origin}: sources[{i}] ('{s.Name}'): field 'weight' must be >= 0");
            if (s.Role is not null && !s.IsRaw && !s.IsReference) throw new FormatException($"{origin}: sources[{i}] ('{s.Name}'): field 'role' must be \"reference\" or \"raw\"");
        }
        var total = Sources.Sum(s => s.Weight);
        if (total <= 0) throw new FormatException($"{origin}: the source weights sum to {total}; give each source a positive 'weight'");
        var sources = Sources;
        if (Math.Abs(total - 1) > 1e-6)
        {
            warnings.Add($"{origin}: weights sum to {total:G6}, not 1; normalised to {string.Join(", ", Sources.Select(s => $"{s.Name} {s.Weight / total:P1}"))}");
            sources = [.. Sources.Select(s => s with { Weight = s.Weight / total, DeclaredWeight = s.DeclaredWeight ?? s.Weight })];
        }
        return this with { Sources = sources, Warnings = warnings };
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
