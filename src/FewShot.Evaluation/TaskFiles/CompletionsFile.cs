using System.Text.Json.Nodes;

namespace FewShot.Evaluation.TaskFiles;

/// <summary>
/// A JSONL file of <c>{"context": ..., "completion": ...}</c> lines - the form OpenAI released GPT-3's synthetic tasks
/// in (arithmetic, word scrambling) - as a task without a task file around it, scored as the paper scored those tasks:
/// the demonstrations "context + completion" drawn from the same file (never the query itself), and a query right when
/// its completion is exactly the model's greedy continuation (acc; the log-likelihood beside it). Examples are joined
/// as the file's contexts expect: with nothing when they start with their own blank lines (the arithmetic files'
/// "\n\nQ: What is 48 plus 76?\n\nA:"), else one per line.
/// </summary>
public static class CompletionsFile
{
    /// <summary>Demonstrations per prompt unless --shots says otherwise (the built-in synthetic tasks' K).</summary>
    public const int DefaultShots = 10;

    public static bool Is(string item) => item.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase);

    public static TaskConfig Task(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: task file not found");
        var config = new JsonObject
        {
            ["name"] = Path.GetFileNameWithoutExtension(path),
            ["splits"] = new JsonObject { ["test"] = new JsonObject { ["jsonl"] = Path.GetFullPath(path) } },
            ["query_template"] = "{context}",
            ["answer_template"] = "{completion}",
            ["answer_delimiter"] = "",
            ["example_separator"] = StartsWithNewline(path) ? "" : "\n",
            ["output_type"] = "loglikelihood",
            ["num_fewshot"] = DefaultShots,
        };
        return TaskConfig.Parse(config.ToJsonString(), path, null);
    }

    // Whether the first document's context begins with a line break (a malformed line is left for the loader to name).
    static bool StartsWithNewline(string path)
    {
        var first = File.ReadLines(path).FirstOrDefault(line => !string.IsNullOrWhiteSpace(line));
        if (first is null) return false;
        try { return JsonNode.Parse(first)?["context"] is JsonValue v && v.TryGetValue<string>(out var context) && context.StartsWith('\n'); }
        catch (System.Text.Json.JsonException) { return false; }
    }
}
