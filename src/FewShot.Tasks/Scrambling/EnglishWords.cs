namespace FewShot.Tasks.Scrambling;

/// <summary>
/// The word list the scrambling tasks draw from: lower-case English words of 5 to 14 letters that occur at least twice
/// in the prose of the .NET SDK's reference documentation (the built-in pretraining corpus), most frequent first.
/// Embedded in the assembly; docs/evaluation.md says how it was made.
/// </summary>
public static class EnglishWords
{
    public const int MinLength = 5, MaxLength = 14;

    static readonly Lazy<IReadOnlyList<string>> words = new(Read);

    public static IReadOnlyList<string> All => words.Value;

    static IReadOnlyList<string> Read()
    {
        using var stream = typeof(EnglishWords).Assembly.GetManifestResourceStream("FewShot.Tasks.english-words.txt")
            ?? throw new InvalidOperationException("the embedded word list is missing from FewShot.Tasks");
        using var reader = new StreamReader(stream);
        var list = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            var word = line.Trim();
            if (word.Length is >= MinLength and <= MaxLength && word.All(char.IsAsciiLetterLower)) list.Add(word);
        }
        return list;
    }
}
