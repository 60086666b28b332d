using FewShot.Data.Mixture;
using FewShot.Model.Tokenization;

namespace FewShot.Data.Bpe;

/// <summary>`fewshot tokenizer train`: a byte-level BPE trained on a mixture's (or files') cleaned text, saved into a folder.</summary>
public static class TokenizerTraining
{
    /// <summary>
    /// Trains on the sources of <paramref name="mixture"/> (each contributes a share of <see cref="BpeTrainingOptions.MaxChars"/>
    /// equal to its weight) and writes tokenizer.json, vocab.json and merges.txt into <paramref name="outDir"/>.
    /// </summary>
    public static BpeTokenizer Train(MixtureSpec mixture, int vocabSize, string outDir, PrepareOptions? options = null,
        IProgress<StageProgress>? progress = null, CancellationToken cancel = default)
    {
        options ??= new PrepareOptions();
        Directory.CreateDirectory(outDir);
        var tokenizer = BpeTrainer.Train(TokenizerResolver.SampleTexts(mixture, options, cancel), vocabSize, options.Bpe, progress);
        tokenizer.Save(outDir);
        TokenizerStore.Save(tokenizer, outDir);
        return tokenizer;
    }

    /// <summary>Trains on text files or JSON Lines given as paths or globs (format from the extension, text field "text").</summary>
    public static BpeTokenizer Train(IReadOnlyList<string> paths, int vocabSize, string outDir, PrepareOptions? options = null,
        IProgress<StageProgress>? progress = null, CancellationToken cancel = default) =>
        Train(new MixtureSpec { Sources = [new SourceSpec { Name = "corpus", Paths = paths, Weight = 1 }] }.Validated("tokenizer train"), vocabSize, outDir, options, progress, cancel);
}
