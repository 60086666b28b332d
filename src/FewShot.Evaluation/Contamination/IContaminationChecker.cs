namespace FewShot.Evaluation.Contamination;

/// <summary>Says which evaluation texts share a 13-gram (see <see cref="NGrams"/>) with a model's training data.</summary>
public interface IContaminationChecker
{
    /// <summary>One flag per text: true when it overlaps the training data.</summary>
    IReadOnlyList<bool> FindContaminated(IReadOnlyList<string> texts);
}
