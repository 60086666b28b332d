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

    /// <summary>GPT-3's fifteen synthetic tasks (Section 3.9).</summary>
    public static IReadOnlyList<string> Synthetic { get; } =
        ["2D+", "2D-", "3D+", "3D-", "4D+", "4D-", "5D+", "5D-", "2Dx", "1DC", "CL", "A1", "A2", "RI", "RW"];

    /// <summary>A task file path, a built-in task name, or a group: "synthetic", "arithmetic", "scrambling", "all".</summary>
    public static IReadOnlyList<TaskConfig> Resolve(string item)
    {
        if (item.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(item)) return [TaskConfig.Load(item)];
        IReadOnlyList<string>? group = item.ToLowerInvariant() switch
        {
            "all" => [.. All.Select(t => t.Name)],
            "synthetic" => Synthetic,
            "arithmetic" => Synthetic.Take(10).ToArray(),
            "scrambling" => Synthetic.Skip(10).ToArray(),
            _ => null,
        };
        if (group is not null) return [.. group.SelectMany(Resolve)];
        return [All.FirstOrDefault(t => string.Equals(t.Name, item, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"unknown task '{item}': not a file, and not a built-in task ({string.Join(", ", All.Select(t => t.Name))}, or the groups all, synthetic, arithmetic, scrambling)")];
    }
}
