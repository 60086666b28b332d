using System.Text;

namespace FewShot.Tasks.Scrambling;

/// <summary>The five manipulations of GPT-3's word-scrambling tasks (Section 3.9).</summary>
public enum Scramble
{
    /// <summary>CL: the letters cycled by a random amount ("inevitably" -> "lyinevitab").</summary>
    CycleLetters,
    /// <summary>A1: all letters but the first and last shuffled ("corruption" -> "criroptuon").</summary>
    AnagramKeepOne,
    /// <summary>A2: all letters but the first two and last two shuffled ("opponent" -> "opoepnnt").</summary>
    AnagramKeepTwo,
    /// <summary>RI: a random punctuation or space character between each pair of letters ("succession" -> "s.u!c/c!e.s s i/o/n").</summary>
    RandomInsertion,
    /// <summary>RW: the word spelled backwards ("objects" -> "stcejbo").</summary>
    ReversedWord,
}

/// <summary>The scrambling functions themselves, separate from sampling so that each can be checked on the paper's examples.</summary>
public static class Scrambles
{
    /// <summary>What RI inserts: ASCII punctuation and the space.</summary>
    public const string InsertionCharacters = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ";

    public static string ShortName(Scramble kind) => kind switch
    {
        Scramble.CycleLetters => "CL",
        Scramble.AnagramKeepOne => "A1",
        Scramble.AnagramKeepTwo => "A2",
        Scramble.RandomInsertion => "RI",
        _ => "RW",
    };

    /// <summary>The word rotated left by <paramref name="shift"/> letters: Cycle("inevitably", 8) = "lyinevitab".</summary>
    public static string Cycle(string word, int shift)
    {
        shift = ((shift % word.Length) + word.Length) % word.Length;
        return word[shift..] + word[..shift];
    }

    /// <summary>The middle letters shuffled, the first and last <paramref name="keep"/> left in place.</summary>
    public static string Anagram(string word, int keep, Random random)
    {
        var letters = word.ToCharArray();
        for (var i = word.Length - keep - 1; i > keep; i--) // Fisher-Yates over [keep, length - keep)
        {
            var j = random.Next(keep, i + 1);
            (letters[i], letters[j]) = (letters[j], letters[i]);
        }
        return new string(letters);
    }

    public static string Reverse(string word)
    {
        var letters = word.ToCharArray();
        Array.Reverse(letters);
        return new string(letters);
    }

    public static string InsertRandomly(string word, Random random)
    {
        var text = new StringBuilder(word.Length * 2);
        for (var i = 0; i < word.Length; i++)
        {
            if (i > 0) text.Append(InsertionCharacters[random.Next(InsertionCharacters.Length)]);
            text.Append(word[i]);
        }
        return text.ToString();
    }

    /// <summary>
    /// Scrambles <paramref name="word"/>; cycles and anagrams are redrawn (a few times) when they come out unchanged,
    /// since a scramble that equals the word asks nothing.
    /// </summary>
    public static string Apply(Scramble kind, string word, Random random)
    {
        for (var attempt = 0; ; attempt++)
        {
            var result = kind switch
            {
                Scramble.CycleLetters => Cycle(word, random.Next(1, word.Length)),
                Scramble.AnagramKeepOne => Anagram(word, 1, random),
                Scramble.AnagramKeepTwo => Anagram(word, 2, random),
                Scramble.RandomInsertion => InsertRandomly(word, random),
                _ => Reverse(word),
            };
            if (result != word || attempt >= 10 || kind is Scramble.RandomInsertion or Scramble.ReversedWord) return result;
        }
    }
}
