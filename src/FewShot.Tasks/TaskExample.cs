namespace FewShot.Tasks;

/// <summary>
/// One worked example as the model reads it: <see cref="Context"/> ("Q: What is 48 plus 76? A:") followed by
/// <see cref="Completion"/> (" 124", with its leading space), the form in which GPT-3's synthetic data was released.
/// </summary>
public sealed record TaskExample(string Context, string Completion)
{
    /// <summary>The example as one line of text: context immediately followed by completion.</summary>
    public string Text => Context + Completion;
}

/// <summary>A multiple-choice question: the context, the candidate answers (as they follow the context) and the right one.</summary>
public sealed record ChoiceExample(string Context, IReadOnlyList<string> Choices, int Answer)
{
    public TaskExample AsExample() => new(Context, Choices[Answer]);
}
