using System.IO.Compression;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace FewShot.Model.Tokenization;

/// <summary>GPT-2/GPT-3's byte-level BPE (r50k_base: 50,257 tokens, end-of-text 50256), from the bundled data package.</summary>
public sealed class Gpt2Tokenizer : ITokenizer
{
    public const int EndOfTextId = 50256;

    /// <summary>GPT-2's pre-tokenization, as the r50k_base encoding defines it.</summary>
    const string PreTokenization = @"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>
    /// One tokenizer per concurrent caller, each with its own pre-tokenization regex and piece cache: the library's
    /// shared instance serialises threads on both (see <see cref="ConcurrentInstances{T}"/>).
    /// </summary>
    static readonly ConcurrentInstances<TiktokenTokenizer> Instances = new(Create);

    public string Name => "r50k_base";
    public int VocabSize => 50257;
    public int EndOfText => EndOfTextId;

    public int[] Encode(string text) => Instances.Use(t => t.EncodeToIds(text, considerPreTokenization: true, considerNormalization: true).ToArray());

    public string Decode(IEnumerable<int> ids) => Instances.Use(t => t.Decode(ids.Where(id => id != EndOfTextId)));

    public TokenizerDescription Describe() => new() { Kind = "r50k_base", VocabSize = VocabSize, EndOfText = EndOfText };

    /// <summary>Builds an r50k_base tokenizer from the ranks file that Microsoft.ML.Tokenizers.Data.R50kBase embeds.</summary>
    static TiktokenTokenizer Create()
    {
        const string Package = "Microsoft.ML.Tokenizers.Data.R50kBase", Resource = "r50k_base.tiktoken.deflate";
        using var compressed = Assembly.Load(Package).GetManifestResourceStream(Resource)
            ?? throw new InvalidOperationException($"{Package} lacks its {Resource} resource");
        using var ranks = new DeflateStream(compressed, CompressionMode.Decompress);
        var special = new Dictionary<string, int> { ["<|endoftext|>"] = EndOfTextId };
        return TiktokenTokenizer.Create(ranks, new RegexPreTokenizer(new Regex(PreTokenization, RegexOptions.Compiled), special), normalizer: null, special);
    }
}
