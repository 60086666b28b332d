using FewShot.Tasks;

namespace FewShot.Evaluation.TaskFiles;

/// <summary>The task files embedded in this assembly (TaskFiles/BuiltIn/*.json), and lookup of a task by name or path.</summary>
public static class BuiltInTasks
{
    const string Prefix = "FewShot.Evaluation.tasks.";

    static readonly Lazy<IReadOnlyList<TaskConfig>> all = new(() =>
    [
        .. typeof(BuiltInTasks).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(n =>
            {
                using var stream = typeof(BuiltInTasks).Assembly.GetManifestResourceStream(n)!;
                using var reader = new StreamReader(stream);
                return TaskConfig.Parse(reader.ReadToEnd(), "builtin:" + n[Prefix.Length..], folder: null);
            }),
    ]);

    public static IReadOnlyList<TaskConfig> All => all.Value;

    // The groups list the generators' tasks in the generators' order (each built-in task file uses one generator).

    /// <summary>GPT-3's ten arithmetic tasks (Section 3.9).</summary>
    public static IReadOnlyList<string> Arithmetic { get; } = [.. SyntheticTasks.Arithmetic.Select(t => t.Name)];

    /// <summary>GPT-3's five word-scrambling tasks (Section 3.9).</summary>
    public static IReadOnlyList<string> Scrambling { get; } = [.. SyntheticTasks.WordScrambling.Select(t => t.Name)];

    /// <summary>The word-list rules: one generic description, so that only the demonstrations say which rule is asked.</summary>
    public static IReadOnlyList<string> WordLists { get; } = [.. SyntheticTasks.WordLists.Select(t => t.Name)];

    /// <summary>Every generated task with a single answer: GPT-3's fifteen of Section 3.9, then the word-list rules.</summary>
    public static IReadOnlyList<string> Synthetic { get; } = [.. Arithmetic, .. Scrambling, .. WordLists];

    /// <summary>The groups <see cref="Resolve"/> accepts, by name.</summary>
    public static IReadOnlyList<string> Groups { get; } = ["all", "synthetic", "arithmetic", "scrambling", "wordlists"];

    /// <summary>A task file path, a JSONL file of {"context", "completion"} lines (<see cref="CompletionsFile"/>), a built-in task name, or one of the <see cref="Groups"/>.</summary>
    public static IReadOnlyList<TaskConfig> Resolve(string item)
    {
        if (CompletionsFile.Is(item)) return [CompletionsFile.Task(item)];
        if (item.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(item)) return [TaskConfig.Load(item)];
        IReadOnlyList<string>? group = item.ToLowerInvariant() switch
        {
            "all" => [.. All.Select(t => t.Name)],
            "synthetic" => Synthetic,
            "arithmetic" => Arithmetic,
            "scrambling" => Scrambling,
            "wordlists" => WordLists,
            _ => null,
        };
        if (group is not null) return [.. group.SelectMany(Resolve)];
        return [All.FirstOrDefault(t => string.Equals(t.Name, item, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"unknown task '{item}': not a file, and not a built-in task ({string.Join(", ", All.Select(t => t.Name))}, or the groups {string.Join(", ", Groups)})")];
    }
}
