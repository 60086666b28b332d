using System.Text;
using FewShot.Tasks;

namespace FewShot.Data.Builtin;

/// <summary>
/// Training documents of GPT-3's synthetic tasks and the word-list rules, from the generators the evaluation uses
/// (<see cref="SyntheticTasks"/>): each document is many worked examples of ONE task in a row (separated by
/// <see cref="BuiltinCorpus.ExampleSeparator"/>), the shape of a few-shot prompt, so that a model trained on them
/// learns to infer the task from the examples in its context. Every second document starts with the task's description (the evaluation's "with description" setting).
/// Seeds differ from the evaluation's (1, 2, 3), so documents and test questions are drawn independently.
/// </summary>
public static class SyntheticDocuments
{
    public static IEnumerable<string> Arithmetic(int documentsPerTask, int seed) => Documents(SyntheticTasks.Arithmetic, documentsPerTask, seed);

    public static IEnumerable<string> WordScrambles(int documentsPerTask, int seed) => Documents(SyntheticTasks.WordScrambling, documentsPerTask, seed + 1);

    /// <summary>
    /// The word-list rules: their description is one generic line shared by all six, so a document's rule is given
    /// only by its examples, as in the evaluation; the model has to learn to read the rule from its context.
    /// </summary>
    public static IEnumerable<string> WordLists(int documentsPerTask, int seed) => Documents(SyntheticTasks.WordLists, documentsPerTask, seed + 2);

    static IEnumerable<string> Documents(IReadOnlyList<ISyntheticTask> tasks, int documentsPerTask, int seed)
    {
        for (var d = 0; d < documentsPerTask; d++)
            for (var t = 0; t < tasks.Count; t++)
            {
                var examples = tasks[t].Generate(BuiltinCorpus.ExamplesPerDocument, DocumentSeed(seed, d, t));
                yield return Join(examples, d % 2 == 0 ? tasks[t].Description : null);
            }
    }

    /// <summary>A seed per (document, task), the same in every process (HashCode.Combine is randomised per process).</summary>
    static int DocumentSeed(int seed, int document, int task) => unchecked((seed * 1_000_003 + document) * 64 + task);

    static string Join(IEnumerable<TaskExample> examples, string? description)
    {
        var text = new StringBuilder();
        if (description is not null) text.Append(description).Append(BuiltinCorpus.ExampleSeparator);
        foreach (var e in examples) text.Append(e.Text).Append(BuiltinCorpus.ExampleSeparator);
        return text.ToString().TrimEnd('\n');
    }
}
