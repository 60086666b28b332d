using Microsoft.ML.Tokenizers;

namespace FewShot.Model.Tokenization;

/// <summary>GPT-2/GPT-3's byte-level BPE (r50k_base: 50,257 tokens, end-of-text 50256), from the bundled data package.</summary>
public sealed class Gpt2Tokenizer : ITokenizer
{
    public const int EndOfTextId = 50256;
    static readonly Lazy<TiktokenTokenizer> Shared = new(() => TiktokenTokenizer.CreateForEncoding("r50k_base"));

    readonly TiktokenTokenizer inner = Shared.Value;

    public string Name => "r50k_base";
    public int VocabSize => 50257;
    public int EndOfText => EndOfTextId;

    public int[] Encode(string text) => [.. inner.EncodeToIds(text, considerPreTokenization: true, considerNormalization: true)];

    public string Decode(IEnumerable<int> ids) => inner.Decode(ids.Where(id => id != EndOfTextId));

    public TokenizerDescription Describe() => new() { Kind = "r50k_base", VocabSize = VocabSize, EndOfText = EndOfText };
}
