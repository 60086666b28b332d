using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using FewShot.Evaluation.Running;
using FewShot.Model;

namespace FewShot.Evaluation.Reports;

/// <summary>
/// The files of a run: results.json (model, tasks with config hashes, seed, one row per metric with n, value and
/// stderr) and examples.jsonl (prompt, answer, prediction, score per example). Each is written to a temporary file and
/// renamed, examples first: a results.json that exists is complete.
/// </summary>
public static class ResultsFile
{
    public const string ResultsName = "results.json", ExamplesName = "examples.jsonl";

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // "2D+", not "2D\u002B"
    };

    static readonly JsonSerializerOptions Line = new(Json) { WriteIndented = false };

    /// <summary>What results.json holds (the report without its examples).</summary>
    public sealed record Contents(string Format, DateTimeOffset Created, ModelSummary Model, int Seed, IReadOnlyList<TaskSummary> Tasks,
        IReadOnlyList<MetricRow> Results, IReadOnlyList<ContaminationRow> Contamination);

    public static (string Results, string Examples) Write(EvalReport report, string folder)
    {
        Directory.CreateDirectory(folder);
        var examplesPath = Path.Combine(folder, ExamplesName);
        AtomicFile.Write(examplesPath, stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true);
            foreach (var example in report.Examples) writer.WriteLine(JsonSerializer.Serialize(example, Line));
        });
        var resultsPath = Path.Combine(folder, ResultsName);
        var contents = new Contents("fewshot-eval-1", DateTimeOffset.UtcNow, report.Model, report.Seed, report.Tasks, report.Results, report.Contamination);
        AtomicFile.WriteAllText(resultsPath, JsonSerializer.Serialize(contents, Json));
        return (resultsPath, examplesPath);
    }

    public static Contents Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: results file not found");
        try
        {
            return JsonSerializer.Deserialize<Contents>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: empty results file");
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a fewshot results file ({e.Message})"); }
    }
}
