using FewShot.Data.Contamination;
using FewShot.Data;

namespace FewShot.Evaluation.Contamination;

/// <summary>
/// Checks evaluation texts against the training n-gram index that `fewshot data prepare` wrote into its folder
/// (train-13grams.bin): the same words, n and hashing as the data pipeline's decontamination, and no second pass over
/// the training data. The index keeps 1 in <see cref="ContaminationIndex.Sampling"/> n-grams, so a short shared passage
/// can be missed (docs/data.md gives the odds); prepare with `--ngram-sampling 1` for an exact check.
/// </summary>
public sealed class PreparedDataChecker(ContaminationIndex index) : IContaminationChecker
{
    public static PreparedDataChecker Open(string dataFolder)
    {
        if (!Directory.Exists(dataFolder)) throw new DirectoryNotFoundException($"{dataFolder}: prepared data folder not found");
        return new(DataPipeline.LoadTrainingNGrams(dataFolder));
    }

    public ContaminationIndex Index => index;

    public IReadOnlyList<bool?> FindContaminated(IReadOnlyList<string> texts) => [.. texts.Select(index.Check)];
}
