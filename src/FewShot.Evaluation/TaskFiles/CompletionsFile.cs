using System.Text.Json.Nodes;

namespace FewShot.Evaluation.TaskFiles;

/// <summary>
/// A JSONL file of <c>{"context": ..., "completion": ...}</c> lines - the form OpenAI released GPT-3's synthetic tasks
/// in (arithmetic, word scrambling) - as a task without a task file around it, scored as the paper scored those tasks:
/// the demonstrations "context + completion" drawn from the same file (never the query itself), one per line, and a
/// query right when its completion is exactly the model's greedy continuation (acc; the log-likelihood beside it).
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
            ["example_separator"] = "\n",
            ["output_type"] = "loglikelihood",
            ["num_fewshot"] = DefaultShots,
        };
        return TaskConfig.Parse(config.ToJsonString(), path, null);
    }
}
