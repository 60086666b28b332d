using FewShot.Tasks.Scrambling;

namespace FewShot.Tasks.WordLists;

/// <summary>
/// One word-list rule: a list of 3 to 5 distinct short English words as a question, the model answers with what the
/// rule makes of the list. Context "Q: apple river stone\nA:", completion " stone river apple" (WL-reverse). Every
/// word of the list follows a space, as every word of the answer does, so a word is the same token in both (with the
/// list at the start of a line, as in the layout before corpus version 7, "apple river stone -> apple", the first word
/// was another token than its copy in the answer).
/// Every rule has the same, generic <see cref="Description"/> on purpose: nothing but the demonstrations says which
/// rule is meant, so zero-shot is ambiguous (the six rules give six different answers to any list) and few-shot is
/// not. That is the meta-learning GPT-3's Section 1 describes: documents that repeat one sub-task teach a model to
/// infer the task from its context, and these tasks can only be solved that way.
/// </summary>
public sealed class WordListRuleTask(WordListRule rule, IReadOnlyList<string>? words = null) : ISyntheticTask
{
    public const int MinWords = 3, MaxWords = 5;
    /// <summary>Short words only, so that a list stays a few tokens long (the word list has none under 5 letters).</summary>
    public const int MaxWordLength = 7;
    /// <summary>
    /// The most frequent short words only: common words ("value", "stream", "table"); further
    /// down the list come the SIMD intrinsics' mnemonics of the documentation ("svadd", "svmla"), which are no words.
    /// </summary>
    public const int CommonWords = 600;

    public const string GenericDescription = "Each line maps a list of words to an answer by one rule; continue the pattern.";

    static readonly Lazy<IReadOnlyList<string>> shortWords = new(() => [.. EnglishWords.All.Where(w => w.Length <= MaxWordLength).Take(CommonWords)]);

    /// <summary>
    /// The words that lists are drawn from: the <see cref="CommonWords"/> most frequent <see cref="EnglishWords"/> of at most
    /// <see cref="MaxWordLength"/> letters.
    /// </summary>
    public static IReadOnlyList<string> ShortWords => shortWords.Value;

    public WordListRule Rule { get; } = rule;
    public string Name => WordListRules.ShortName(Rule);
    public string Description => GenericDescription;
    public int DefaultCount => 2000;

    public IEnumerable<TaskExample> Generate(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var pool = words ?? ShortWords;
        if (pool.Distinct().Count() < MaxWords) throw new ArgumentException($"{Name}: the word pool needs at least {MaxWords} distinct words");
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var list = new List<string>();
            for (var length = random.Next(MinWords, MaxWords + 1); list.Count < length;)
            {
                var word = pool[random.Next(pool.Count)];
                if (!list.Contains(word)) list.Add(word); // distinct words, so that every rule's answer differs from the others'
            }
            yield return Example(list, WordListRules.Apply(Rule, list));
        }
    }

    /// <summary>"Q: {words}\nA:" + " {answer}".</summary>
    public static TaskExample Example(IReadOnlyList<string> words, IReadOnlyList<string> answer) =>
        new("Q: " + string.Join(' ', words) + "\nA:", " " + string.Join(' ', answer));

    /// <summary>The words of a context that <see cref="Example"/> wrote.</summary>
    public static string[] Words(string context) => context["Q: ".Length..^"\nA:".Length].Split(' ');
}
