namespace FewShot.Data.Readers;

/// <summary>One document as read, before cleaning. <see cref="Origin"/> is "file:line" (or "file" for whole-file documents).</summary>
public readonly record struct SourceDocument(string Text, string Origin);

/// <summary>
/// Counts records a reader skipped (bad JSON, missing field, over-long line, truncated file) and keeps the first
/// messages, each naming the file and line. Thread-safe.
/// </summary>
public sealed class ReadLog
{
    public const int MaxMessages = 10;
    readonly List<string> messages = [];
    long skipped;

    public long Skipped => Interlocked.Read(ref skipped);

    public IReadOnlyList<string> FirstMessages { get { lock (messages) return [.. messages]; } }

    public void Skip(string message)
    {
        Interlocked.Increment(ref skipped);
        lock (messages) if (messages.Count < MaxMessages) messages.Add(message);
    }
}

/// <summary>Bounds that keep a reader's memory small whatever the input (a 100 MB single line is skipped, not read).</summary>
public sealed record ReaderLimits
{
    /// <summary>The longest line (JSON Lines) or document (text files) held in memory, in bytes; longer ones are skipped.</summary>
    public int MaxRecordBytes { get; init; } = 16 << 20;
}
