namespace FewShot.Tasks.WordLists;

/// <summary>The rules of the word-list tasks: what answers a list of words ("apple river stone").</summary>
public enum WordListRule
{
    /// <summary>WL-first: the first word ("apple").</summary>
    First,
    /// <summary>WL-last: the last word ("stone").</summary>
    Last,
    /// <summary>WL-reverse: the words in reverse order ("stone river apple").</summary>
    Reverse,
    /// <summary>WL-rest: every word but the first ("river stone").</summary>
    Rest,
    /// <summary>WL-copy: the list unchanged ("apple river stone").</summary>
    Copy,
    /// <summary>WL-swap: the first two words swapped ("river apple stone").</summary>
    Swap,
}

/// <summary>The rules themselves, separate from sampling so that each can be checked on a fixed list.</summary>
public static class WordListRules
{
    public static string ShortName(WordListRule rule) => rule switch
    {
        WordListRule.First => "WL-first",
        WordListRule.Last => "WL-last",
        WordListRule.Reverse => "WL-reverse",
        WordListRule.Rest => "WL-rest",
        WordListRule.Copy => "WL-copy",
        _ => "WL-swap",
    };

    /// <summary>The answer to <paramref name="words"/> (at least two) under <paramref name="rule"/>.</summary>
    public static IReadOnlyList<string> Apply(WordListRule rule, IReadOnlyList<string> words)
    {
        if (words.Count < 2) throw new ArgumentException("a word list has at least two words", nameof(words));
        return rule switch
        {
            WordListRule.First => [words[0]],
            WordListRule.Last => [words[^1]],
            WordListRule.Reverse => [.. words.Reverse()],
            WordListRule.Rest => [.. words.Skip(1)],
            WordListRule.Copy => [.. words],
            _ => [words[1], words[0], .. words.Skip(2)],
        };
    }
}
