using System.Text;
using FewShot.Tasks;

namespace FewShot.Data.Builtin;

/// <summary>
/// Training documents of GPT-3's synthetic tasks and the word-list rules, from the generators the evaluation uses
/// (<see cref="SyntheticTasks"/>): each document is many worked examples of ONE task in a row (separated by the task's
/// <see cref="ISyntheticTask.ExampleSeparator"/>), the shape of a few-shot prompt, so that a model trained on them
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
    public static IEnumerable<string> WordLists(int documentsPerTask, int seed)
    {
        // Lists of 3 words from 600 are few enough (~2e8) that ~115k training lines would share one with the 2,000 test
        // lists by chance: those are left out of the corpus, so no test line is ever a training line.
        var testLists = SyntheticTasks.WordLists.SelectMany(t => t.Generate(t.DefaultCount, EvaluationTestSeed)).Select(e => e.Context).ToHashSet();
        return Documents(SyntheticTasks.WordLists, documentsPerTask, seed + 2, e => !testLists.Contains(e.Context));
    }

    /// <summary>The seed of the evaluation's test splits (the built-in task files' "test" split).</summary>
    public const int EvaluationTestSeed = 2;

    static IEnumerable<string> Documents(IReadOnlyList<ISyntheticTask> tasks, int documentsPerTask, int seed, Func<TaskExample, bool>? keep = null)
    {
        for (var d = 0; d < documentsPerTask; d++)
            for (var t = 0; t < tasks.Count; t++)
            {
                var examples = tasks[t].Generate(2 * BuiltinCorpus.ExamplesPerDocument, DocumentSeed(seed, d, t))
                    .Where(keep ?? (_ => true)).Take(BuiltinCorpus.ExamplesPerDocument);
                yield return Join(examples, d % 2 == 0 ? tasks[t].Description : null, tasks[t].ExampleSeparator);
            }
    }

    /// <summary>A seed per (document, task), the same in every process (HashCode.Combine is randomised per process).</summary>
    static int DocumentSeed(int seed, int document, int task) => unchecked((seed * 1_000_003 + document) * 64 + task);

    /// <summary>The layout of a few-shot prompt of the task: description, then the examples with the task's separator.</summary>
    static string Join(IEnumerable<TaskExample> examples, string? description, string separator)
    {
        var text = new StringBuilder();
        if (description is not null) text.Append(description).Append(separator);
        foreach (var e in examples) text.Append(e.Text).Append(separator);
        return text.ToString().Trim('\n');
    }
}
