using System.Text;

namespace FewShot.Data.Builtin;

/// <summary>
/// GPT-3's five word-scrambling tasks (Section 3.9.2) in the paper's format "asinoc = casino": CL cycles the letters
/// ("lyinevitab = inevitably"), A1 shuffles all but the first and last letter ("criroptuon = corruption"), A2 all but
/// the first and last two ("opoepnnt = opponent"), RI inserts a punctuation mark or space between letters
/// ("s.u!c/c!e.s s i/o/n = succession"), RW reverses the word ("stcejbo = objects"). Words have 5 to 14 letters.
/// </summary>
public static class WordScramble
{
    public static readonly IReadOnlyList<string> All = ["CL", "A1", "A2", "RI", "RW"];
    public const int PaperInstances = 10_000;
    public const int MinLetters = 5, MaxLetters = 14;
    /// <summary>The paper's task description for the scrambling tasks.</summary>
    public const string Description = "Please unscramble the letters into a word, and write that word:";
    const string Insertions = " .,!?;:/-'*";

    public static IReadOnlyList<TaskExample> Generate(string task, IReadOnlyList<string> words, int count, int seed)
    {
        var usable = words.Where(w => w.Length is >= MinLetters and <= MaxLetters).ToArray();
        if (usable.Length == 0) throw new ArgumentException($"no word of {MinLetters}-{MaxLetters} letters to scramble");
        var random = new Random(HashCode.Combine(seed, ArithmeticTasks.StableHash(task)));
        return [.. Enumerable.Range(0, count).Select(_ => One(task, usable[random.Next(usable.Length)], random))];
    }

    public static TaskExample One(string task, string word, Random random) =>
        new(task, $"{Scramble(task, word, random)} =", $" {word}");

    public static string Scramble(string task, string word, Random random) => task switch
    {
        "CL" => Cycle(word, 1 + random.Next(word.Length - 1)),
        "A1" => ShuffleMiddle(word, 1, random),
        "A2" => ShuffleMiddle(word, 2, random),
        "RI" => Insert(word, random),
        "RW" => new string([.. word.Reverse()]),
        _ => throw new ArgumentException($"unknown scramble task '{task}' (known: {string.Join(", ", All)})"),
    };

    static string Cycle(string word, int shift) => word[shift..] + word[..shift];

    static string ShuffleMiddle(string word, int keep, Random random)
    {
        if (word.Length <= 2 * keep + 1) return word;
        var middle = word.ToCharArray(keep, word.Length - 2 * keep);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            random.Shuffle(middle);
            var result = word[..keep] + new string(middle) + word[^keep..];
            if (result != word || attempt == 4) return result;
        }
        return word;
    }

    static string Insert(string word, Random random)
    {
        var text = new StringBuilder(word.Length * 2);
        for (var i = 0; i < word.Length; i++)
        {
            if (i > 0) text.Append(Insertions[random.Next(Insertions.Length)]);
            text.Append(word[i]);
        }
        return text.ToString();
    }

    /// <summary>Distinct lower-case words of 5-14 ASCII letters in <paramref name="texts"/>, most frequent first (ties alphabetical).</summary>
    public static IReadOnlyList<string> WordsFrom(IEnumerable<string> texts, int max = 10_000)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in texts)
        {
            var start = -1;
            for (var i = 0; i <= text.Length; i++)
            {
                var letter = i < text.Length && char.IsAsciiLetterLower(text[i]);
                if (letter && start < 0 && (i == 0 || !char.IsLetterOrDigit(text[i - 1]))) start = i;
                else if (!letter && start >= 0)
                {
                    var length = i - start;
                    if (length is >= MinLetters and <= MaxLetters && (i == text.Length || !char.IsLetterOrDigit(text[i])))
                    {
                        var word = text.Substring(start, length);
                        counts[word] = counts.GetValueOrDefault(word) + 1;
                    }
                    start = -1;
                }
            }
        }
        return [.. counts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Take(max).Select(p => p.Key)];
    }
}
