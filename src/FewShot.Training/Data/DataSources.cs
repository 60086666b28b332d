using FewShot.Model.Tokenization;

namespace FewShot.Training.Data;

/// <summary>
/// Opens prepared data folders (--data DIR). The data library registers its shard reader here once it is merged:
/// <c>DataSources.PreparedFolder = (folder, tokenizer, seed) => new MixtureBatchSource(...)</c>, a
/// <see cref="WindowBatchSource"/> over its sampler's (n_ctx + 1)-token windows.
/// </summary>
public static class DataSources
{
    public static Func<string, ITokenizer, long, ITokenBatchSource>? PreparedFolder { get; set; }

    public static ITokenBatchSource Open(string folder, ITokenizer tokenizer, long seed)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: data folder not found");
        return PreparedFolder is { } open
            ? open(folder, tokenizer, seed)
            : throw new NotSupportedException($"{folder}: prepared data folders are not available in this build (the data library is not linked); use --text FILE");
    }
}
