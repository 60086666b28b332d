using System.Text;

namespace FewShot.Data.Builtin;

/// <summary>
/// Training documents of GPT-3's synthetic tasks: each document is many worked examples of ONE task in a row
/// (separated by <see cref="BuiltinCorpus.ExampleSeparator"/>), the shape of a few-shot prompt, so that a model
/// trained on them learns to infer the task from the examples in its context. Half of the scramble documents start
/// with the paper's task description.
/// </summary>
public static class SyntheticDocuments
{
    public static IEnumerable<string> Arithmetic(int documentsPerTask, int seed)
    {
        var random = new Random(seed);
        for (var d = 0; d < documentsPerTask; d++)
            foreach (var task in ArithmeticTasks.All)
                yield return Join(Enumerable.Range(0, BuiltinCorpus.ExamplesPerDocument).Select(_ => ArithmeticTasks.One(task, random)), null);
    }

    public static IEnumerable<string> WordScrambles(IReadOnlyList<string> words, int documentsPerTask, int seed)
    {
        var random = new Random(seed + 1);
        for (var d = 0; d < documentsPerTask; d++)
            foreach (var task in WordScramble.All)
                yield return Join(Enumerable.Range(0, BuiltinCorpus.ExamplesPerDocument).Select(_ => WordScramble.One(task, words[random.Next(words.Count)], random)),
                    d % 2 == 0 ? WordScramble.Description : null);
    }

    static string Join(IEnumerable<TaskExample> examples, string? description)
    {
        var text = new StringBuilder();
        if (description is not null) text.Append(description).Append(BuiltinCorpus.ExampleSeparator);
        foreach (var e in examples) text.Append(e.Text).Append(BuiltinCorpus.ExampleSeparator);
        return text.ToString().TrimEnd('\n');
    }
}
