using FewShot.Data.Bpe;
using FewShot.Data.Cleaning;
using FewShot.Data.Mixture;
using FewShot.Data.Readers;
using FewShot.Model.Tokenization;

namespace FewShot.Data;

/// <summary>Turns a mixture's "tokenizer" into a tokenizer and saves it (tokenizer.json, and vocab.json + merges.txt for BPE) into the data folder.</summary>
static class TokenizerResolver
{
    public static ITokenizer Resolve(MixtureSpec mixture, string outDir, PrepareOptions options, IProgress<StageProgress>? progress, CancellationToken cancel)
    {
        var name = mixture.Tokenizer.Trim();
        ITokenizer tokenizer;
        if (options.Tokenizer is not null) tokenizer = options.Tokenizer;
        else if (name.StartsWith("bpe:", StringComparison.OrdinalIgnoreCase))
        {
            if (!int.TryParse(name[4..], out var vocab)) throw new FormatException($"tokenizer '{name}': expected bpe:N with N the vocabulary size, e.g. bpe:8192");
            tokenizer = BpeTrainer.Train(SampleTexts(mixture, options, cancel), vocab, options.Bpe, progress);
        }
        else if (Directory.Exists(Path.Combine(mixture.BaseDirectory, name)) || Directory.Exists(name))
            tokenizer = TokenizerStore.Load(Directory.Exists(name) ? name : Path.Combine(mixture.BaseDirectory, name));
        else tokenizer = TokenizerStore.FromName(name);
        if (tokenizer is BpeTokenizer bpe) bpe.Save(outDir);
        TokenizerStore.Save(tokenizer, outDir);
        return tokenizer;
    }

    /// <summary>Cleaned documents for tokenizer training: from each source, a share of the character budget equal to its weight.</summary>
    public static IEnumerable<string> SampleTexts(MixtureSpec mixture, PrepareOptions options, CancellationToken cancel)
    {
        foreach (var source in mixture.Sources.Where(s => s.Paths.Count > 0))
        {
            var budget = (long)(options.Bpe.MaxChars * source.Weight);
            long taken = 0;
            foreach (var document in DocumentReader.Read(source, mixture.BaseDirectory, new ReadLog(), options.Limits))
            {
                cancel.ThrowIfCancellationRequested();
                var cleaned = TextCleaner.Clean(document.Text, options.Cleaning).Text;
                if (cleaned is null) continue;
                yield return cleaned;
                if ((taken += cleaned.Length) >= budget) break;
            }
        }
    }
}
