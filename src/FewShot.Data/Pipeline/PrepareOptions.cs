using FewShot.Data.Bpe;
using FewShot.Data.Cleaning;
using FewShot.Data.Dedup;
using FewShot.Data.Quality;
using FewShot.Data.Readers;
using FewShot.Model.Tokenization;

namespace FewShot.Data;

/// <summary>Settings of <see cref="DataPipeline.Prepare"/>; every stage's own options are nested and default to GPT-3's choices.</summary>
public sealed record PrepareOptions
{
    /// <summary>Threads for cleaning, hashing and tokenization (default: all cores).</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
    /// <summary>Share of each source's documents held out as the validation split (every k-th document; long documents also give their tail).</summary>
    public double ValidationFraction { get; init; } = 0.01;
    /// <summary>Documents of at least this many tokens also give their last <see cref="ValidationFraction"/> of tokens to validation (a one-file corpus still gets a split).</summary>
    public int LongDocumentTokens { get; init; } = 65_536;
    public long MaxTokensPerShard { get; init; } = 32L << 20;
    public bool ExactDedup { get; init; } = true;
    public bool FuzzyDedup { get; init; } = true;
    /// <summary>Applies when the mixture has a "reference" and a "raw" source.</summary>
    public bool QualityFilter { get; init; } = true;
    /// <summary>The training data's n-grams saved for evaluation's contamination check keep 1 in this many (by hash).</summary>
    public int TrainNGramSampling { get; init; } = 32;
    public bool WriteTrainNGrams { get; init; } = true;
    public int ContaminationN { get; init; } = 13;
    /// <summary>Overrides the mixture's "tokenizer".</summary>
    public ITokenizer? Tokenizer { get; init; }
    public CleaningOptions Cleaning { get; init; } = new();
    public MinHashOptions MinHash { get; init; } = new();
    public QualityOptions Quality { get; init; } = new();
    public ReaderLimits Limits { get; init; } = new();
    public BpeTrainingOptions Bpe { get; init; } = new();
    /// <summary>Documents are processed in batches of about this many characters (bounds memory).</summary>
    public int BatchChars { get; init; } = 4 << 20;
}
