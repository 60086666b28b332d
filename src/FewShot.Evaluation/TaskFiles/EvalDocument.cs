namespace FewShot.Evaluation.TaskFiles;

/// <summary>
/// One document of a split: named text fields for the templates, and for multiple-choice tasks the choices and the
/// index of the right one. <see cref="Origin"/> says where it came from ("test.jsonl:12", "generator 2D+ #5").
/// </summary>
public sealed record EvalDocument(IReadOnlyDictionary<string, string> Fields, IReadOnlyList<string>? Choices, int Answer, string Origin);
