using FewShot.Model.Tokenization;

namespace FewShot.Training.Data;

/// <summary>
/// Opens prepared data folders (--data DIR). The program registers the data library's reader here (the training
/// library does not depend on it): (folder, tokenizer, seed, weights or null for the folder's own) -> a
/// <see cref="WindowBatchSource"/> over its sampler's (n_ctx + 1)-token windows.
/// </summary>
public static class DataSources
{
    public static Func<string, ITokenizer, long, IReadOnlyDictionary<string, double>?, ITokenBatchSource>? PreparedFolder { get; set; }

    public static ITokenBatchSource Open(string folder, ITokenizer tokenizer, long seed, IReadOnlyDictionary<string, double>? weights = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: data folder not found");
        return PreparedFolder is { } open
            ? open(folder, tokenizer, seed, weights)
            : throw new NotSupportedException($"{folder}: prepared data folders are not available in this build (the data library is not linked); use --text FILE");
    }
}
