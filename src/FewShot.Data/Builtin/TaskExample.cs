namespace FewShot.Data.Builtin;

/// <summary>
/// One instance of a synthetic task, split where the model must continue: <see cref="Context"/> ("Q: What is 48 plus 76? A:")
/// and <see cref="Completion"/> (" 124"), the form in which GPT-3's synthetic-task data was released.
/// </summary>
public sealed record TaskExample(string Task, string Context, string Completion)
{
    public string Text => Context + Completion;
}
