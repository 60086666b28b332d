using System.Text;

namespace FewShot.Model.Tokenization;

/// <summary>
/// For imported models that come without a tokenizer (a vocabulary that is neither GPT-2's nor bytes): ids only.
/// Text cannot be encoded (use token ids); ids decode to "[id]" so output stays inspectable.
/// </summary>
public sealed class IdTokenizer(int vocabSize, int endOfText) : ITokenizer
{
    public string Name => "ids";
    public int VocabSize => vocabSize;
    public int EndOfText => endOfText;

    public int[] Encode(string text) =>
        throw new NotSupportedException("this model has no text tokenizer (its folder records kind 'ids'); pass token ids instead");

    public string Decode(IEnumerable<int> ids)
    {
        var text = new StringBuilder();
        foreach (var id in ids) text.Append('[').Append(id).Append(']');
        return text.ToString();
    }

    public TokenizerDescription Describe() => new() { Kind = "ids", VocabSize = vocabSize, EndOfText = endOfText };
}
