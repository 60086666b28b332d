namespace FewShot.Evaluation.Contamination;

/// <summary>Says which evaluation texts share a 13-gram with a model's training data.</summary>
public interface IContaminationChecker
{
    /// <summary>One flag per text: true when it overlaps the training data, null when it is too short to hold an n-gram.</summary>
    IReadOnlyList<bool?> FindContaminated(IReadOnlyList<string> texts);
}
