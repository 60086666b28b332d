using System.Text;

namespace FewShot.Evaluation.Contamination;

/// <summary>
/// GPT-3's contamination n-grams (Section 4, Appendix C): text lower-cased, punctuation removed, split into words;
/// an eval example is contaminated when any of its 13-grams (all its words, if it has fewer) occurs in training data.
/// </summary>
public static class NGrams
{
    public const int Size = 13;

    /// <summary>"Q: What is 48 plus 76?" -> ["q", "what", "is", "48", "plus", "76"]. Punctuation and symbols vanish.</summary>
    public static List<string> Normalise(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c)) { Flush(); continue; }
            if (char.IsPunctuation(c) || char.IsSymbol(c)) continue;
            word.Append(char.ToLowerInvariant(c));
        }
        Flush();
        return words;

        void Flush()
        {
            if (word.Length > 0) words.Add(word.ToString());
            word.Clear();
        }
    }

    /// <summary>A 64-bit hash of words [start, start + n): FNV-1a over the words with a separator.</summary>
    public static ulong Hash(IReadOnlyList<string> words, int start, int n)
    {
        var hash = 14695981039346656037UL;
        for (var i = start; i < start + n; i++)
        {
            foreach (var c in words[i]) { hash ^= c; hash *= 1099511628211UL; }
            hash ^= 0x1F; hash *= 1099511628211UL;
        }
        return hash;
    }

    /// <summary>The n-gram hashes of a text with n = min(13, word count); empty for a text with no words.</summary>
    public static (int N, ulong[] Hashes) Of(string text)
    {
        var words = Normalise(text);
        var n = Math.Min(Size, words.Count);
        if (n == 0) return (0, []);
        return (n, [.. Enumerable.Range(0, words.Count - n + 1).Select(i => Hash(words, i, n))]);
    }
}
