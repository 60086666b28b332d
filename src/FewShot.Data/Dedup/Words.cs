using System.Globalization;

namespace FewShot.Data.Dedup;

/// <summary>
/// Splits text into lower-cased words of letters and digits (punctuation and spaces separate words and are
/// dropped) and hashes each word; every CJK ideograph, kana or hangul syllable counts as a word of its own.
/// Shared by MinHash shingles, the 13-gram contamination index and the quality classifier's features.
/// </summary>
public static class Words
{
    public static void Hashes(ReadOnlySpan<char> text, List<ulong> into)
    {
        Span<char> word = stackalloc char[64];
        var length = 0;
        ulong longHash = 0;
        void Flush(Span<char> w)
        {
            if (length == 0) return;
            into.Add(length <= w.Length ? TextHash.Of(w[..length]) : longHash);
            length = 0;
        }
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (IsCjk(c)) { Flush(word); word[0] = c; length = 1; Flush(word); continue; }
            if (char.IsLetterOrDigit(c) || (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLetter(char.ConvertToUtf32(c, text[i + 1]) is var cp && cp < 0x10000 ? (char)cp : 'a')))
            {
                var lower = char.ToLowerInvariant(c);
                if (length < word.Length) word[length] = lower;
                else longHash = TextHash.Mix((length == word.Length ? TextHash.Of(word) : longHash) ^ lower);
                length++;
                continue;
            }
            if (CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.NonSpacingMark && length > 0) continue;
            Flush(word);
        }
        Flush(word);
    }

    public static List<ulong> Hashes(string text)
    {
        var list = new List<ulong>(text.Length / 5 + 1);
        Hashes(text, list);
        return list;
    }

    static bool IsCjk(char c) => c is (>= '\u3040' and <= '\u30FF') or (>= '\u3400' and <= '\u4DBF') or (>= '\u4E00' and <= '\u9FFF') or (>= '\uAC00' and <= '\uD7AF') or (>= '\uF900' and <= '\uFAFF');
}
