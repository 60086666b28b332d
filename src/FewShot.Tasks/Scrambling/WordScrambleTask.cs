namespace FewShot.Tasks.Scrambling;

/// <summary>
/// One of GPT-3's word-scrambling tasks: a word of 5 to 14 letters, scrambled, then " =": the model answers with the
/// word. Context "asinoc =", completion " casino".
/// </summary>
public sealed class WordScrambleTask(Scramble kind, IReadOnlyList<string>? words = null) : ISyntheticTask
{
    public Scramble Kind { get; } = kind;
    public string Name => Scrambles.ShortName(Kind);
    public int DefaultCount => 10_000;

    public string Description => Kind switch
    {
        Scramble.ReversedWord => "Please unscramble the letters into a word, and write that word (the letters are reversed):",
        Scramble.RandomInsertion => "Please remove the symbols and spaces between the letters, and write the word:",
        _ => "Please unscramble the letters into a word, and write that word:",
    };

    public IEnumerable<TaskExample> Generate(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var pool = words ?? EnglishWords.All;
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var word = pool[random.Next(pool.Count)];
            yield return Example(Scrambles.Apply(Kind, word, random), word);
        }
    }

    /// <summary>"{scrambled} =" + " {word}".</summary>
    public static TaskExample Example(string scrambled, string word) => new($"{scrambled} =", " " + word);
}
