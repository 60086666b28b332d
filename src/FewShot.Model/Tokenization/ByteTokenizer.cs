using System.Text;

namespace FewShot.Model.Tokenization;

/// <summary>One token per UTF-8 byte (256) plus end-of-text (256): any text, any language, no training.</summary>
public sealed class ByteTokenizer : ITokenizer
{
    public string Name => "bytes";
    public int VocabSize => 257;
    public int EndOfText => 256;

    public int[] Encode(string text) => [.. Encoding.UTF8.GetBytes(text).Select(b => (int)b)];

    public string Decode(IEnumerable<int> ids) =>
        Encoding.UTF8.GetString([.. ids.Where(id => id is >= 0 and < 256).Select(id => (byte)id)]);

    public TokenizerDescription Describe() => new() { Kind = "bytes", VocabSize = VocabSize, EndOfText = EndOfText };
}
