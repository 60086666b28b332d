namespace FewShot.Tasks;

/// <summary>A task whose examples are generated, deterministically from a seed.</summary>
public interface ISyntheticTask
{
    /// <summary>The paper's short name: "2D+", "CL", "dotnet-types".</summary>
    string Name { get; }

    /// <summary>A natural-language instruction that can precede the examples (GPT-3's zero-shot setting).</summary>
    string Description { get; }

    /// <summary>How many instances the paper's version of the task has (2,000 arithmetic, 10,000 scrambles).</summary>
    int DefaultCount { get; }

    /// <summary>
    /// What goes between two worked examples in a prompt or a training document: a newline, or nothing for tasks whose
    /// contexts carry their own blank lines (GPT-3's released arithmetic files: "\n\nQ: ...?\n\nA:").
    /// </summary>
    string ExampleSeparator => "\n";

    /// <summary>The same <paramref name="seed"/> and <paramref name="count"/> always give the same examples.</summary>
    IEnumerable<TaskExample> Generate(int count, int seed);
}

/// <summary>A synthetic task that also offers its examples as multiple-choice questions.</summary>
public interface IMultipleChoiceTask : ISyntheticTask
{
    IEnumerable<ChoiceExample> GenerateChoices(int count, int seed);
}
