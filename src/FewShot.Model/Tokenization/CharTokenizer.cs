using System.Text;

namespace FewShot.Model.Tokenization;

/// <summary>
/// One token per character of a fixed alphabet (nanoGPT's character-level Shakespeare setup), plus an end-of-text
/// token after the alphabet. Characters outside the alphabet are an error, named with their position.
/// </summary>
public sealed class CharTokenizer : ITokenizer
{
    readonly string alphabet;
    readonly Dictionary<char, int> ids;

    public CharTokenizer(string alphabet)
    {
        if (alphabet.Length == 0) throw new ArgumentException("a character tokenizer needs a non-empty alphabet");
        this.alphabet = alphabet;
        ids = new Dictionary<char, int>(alphabet.Length);
        for (var i = 0; i < alphabet.Length; i++)
            if (!ids.TryAdd(alphabet[i], i)) throw new ArgumentException($"the alphabet repeats '{alphabet[i]}'");
    }

    /// <summary>The sorted set of characters in <paramref name="text"/>.</summary>
    public static CharTokenizer FromText(string text) => new(new string([.. text.Distinct().Order()]));

    public string Name => "char";
    public int VocabSize => alphabet.Length + 1;
    public int EndOfText => alphabet.Length;

    public int[] Encode(string text)
    {
        var result = new int[text.Length];
        for (var i = 0; i < text.Length; i++)
            result[i] = ids.TryGetValue(text[i], out var id)
                ? id
                : throw new ArgumentException($"character {Escape(text[i])} at offset {i} is not in this tokenizer's alphabet");
        return result;
    }

    public string Decode(IEnumerable<int> tokens)
    {
        var text = new StringBuilder();
        foreach (var id in tokens)
            if (id >= 0 && id < alphabet.Length) text.Append(alphabet[id]);
        return text.ToString();
    }

    public TokenizerDescription Describe() => new() { Kind = "char", VocabSize = VocabSize, EndOfText = EndOfText, Alphabet = alphabet };

    static string Escape(char c) => char.IsControl(c) || char.IsWhiteSpace(c) ? $"U+{(int)c:X4}" : $"'{c}'";
}
