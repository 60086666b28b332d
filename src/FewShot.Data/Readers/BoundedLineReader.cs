using System.Text;

namespace FewShot.Data.Readers;

/// <summary>
/// Reads UTF-8 lines from a stream holding at most <c>maxLineBytes</c> of one line in memory: a longer line is
/// consumed to its end and reported as too long. Invalid UTF-8 decodes to U+FFFD (the cleaner counts and repairs or drops).
/// </summary>
public sealed class BoundedLineReader(Stream stream, int maxLineBytes)
{
    readonly byte[] buffer = new byte[1 << 16];
    int start, end;
    MemoryStream line = new();

    /// <summary>Bytes read from the stream so far.</summary>
    public long TotalBytes { get; private set; }

    /// <summary>False when the last line returned ended at the end of the stream without a newline.</summary>
    public bool LastLineTerminated { get; private set; } = true;

    /// <summary>The 1-based number of the line last returned.</summary>
    public long LineNumber { get; private set; }

    /// <summary>Returns false at the end; <paramref name="tooLong"/> is true (and text null) for a line over the bound.</summary>
    public bool TryReadLine(out string? text, out bool tooLong)
    {
        line.SetLength(0);
        tooLong = false;
        var any = false;
        while (true)
        {
            if (start == end)
            {
                start = 0;
                end = stream.Read(buffer, 0, buffer.Length);
                TotalBytes += end;
                if (end == 0)
                {
                    if (!any) { text = null; return false; }
                    LastLineTerminated = false;
                    break;
                }
            }
            any = true;
            var newline = Array.IndexOf(buffer, (byte)'\n', start, end - start);
            var stop = newline < 0 ? end : newline;
            if (!tooLong)
            {
                if (line.Length + (stop - start) > maxLineBytes) { tooLong = true; line = new MemoryStream(); }
                else line.Write(buffer, start, stop - start);
            }
            start = newline < 0 ? end : newline + 1;
            if (newline >= 0) break;
        }
        LineNumber++;
        if (tooLong) { text = null; return true; }
        var bytes = line.GetBuffer().AsSpan(0, (int)line.Length);
        if (bytes.Length > 0 && bytes[^1] == '\r') bytes = bytes[..^1];
        text = Encoding.UTF8.GetString(bytes);
        return true;
    }
}
