using FewShot.Tasks.Arithmetic;
using FewShot.Tasks.DotNetDocs;
using FewShot.Tasks.Scrambling;
using FewShot.Tasks.WordLists;

namespace FewShot.Tasks;

/// <summary>
/// Every built-in generator by name: GPT-3's ten arithmetic and five word-scrambling tasks (Section 3.9), the six
/// word-list rules (whose rule only the demonstrations give) and the .NET documentation questions.
/// </summary>
public static class SyntheticTasks
{
    public static IReadOnlyList<ISyntheticTask> Arithmetic { get; } =
    [
        new ArithmeticTask(2, ArithmeticOperation.Plus), new ArithmeticTask(2, ArithmeticOperation.Minus),
        new ArithmeticTask(3, ArithmeticOperation.Plus), new ArithmeticTask(3, ArithmeticOperation.Minus),
        new ArithmeticTask(4, ArithmeticOperation.Plus), new ArithmeticTask(4, ArithmeticOperation.Minus),
        new ArithmeticTask(5, ArithmeticOperation.Plus), new ArithmeticTask(5, ArithmeticOperation.Minus),
        new ArithmeticTask(2, ArithmeticOperation.Times), new ArithmeticTask(1, ArithmeticOperation.Composite),
    ];

    public static IReadOnlyList<ISyntheticTask> WordScrambling { get; } =
    [
        new WordScrambleTask(Scramble.CycleLetters), new WordScrambleTask(Scramble.AnagramKeepOne),
        new WordScrambleTask(Scramble.AnagramKeepTwo), new WordScrambleTask(Scramble.RandomInsertion),
        new WordScrambleTask(Scramble.ReversedWord),
    ];

    /// <summary>The word-list rules: one generic description for all six, so that only the examples tell them apart.</summary>
    public static IReadOnlyList<ISyntheticTask> WordLists { get; } =
    [
        new WordListRuleTask(WordListRule.First), new WordListRuleTask(WordListRule.Last),
        new WordListRuleTask(WordListRule.Reverse), new WordListRuleTask(WordListRule.Rest),
        new WordListRuleTask(WordListRule.Copy), new WordListRuleTask(WordListRule.Swap),
    ];

    /// <summary>The fifteen tasks of the paper's Section 3.9 in the paper's order, then the six word-list rules.</summary>
    public static IReadOnlyList<ISyntheticTask> All { get; } = [.. Arithmetic, .. WordScrambling, .. WordLists];

    /// <summary>
    /// Question answering over the .NET SDK's documentation ("which type does this summary describe"), in-distribution
    /// namespaces and held-out ones. Reading the documentation is lazy: nothing is loaded until a task generates.
    /// </summary>
    public static IReadOnlyList<IMultipleChoiceTask> DotNet { get; } =
        [new TypeQuestionTask(NamespaceSplit.InDistribution), new TypeQuestionTask(NamespaceSplit.HeldOut)];

    /// <summary>Looks a generator up by name (case-insensitive); throws <see cref="ArgumentException"/> listing the names.</summary>
    public static ISyntheticTask Get(string name) =>
        All.Concat(DotNet).FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown task generator '{name}' (known: {string.Join(", ", Names)})");

    public static IEnumerable<string> Names => All.Concat(DotNet).Select(t => t.Name);
}
