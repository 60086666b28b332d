using System.Text;

namespace FewShot.Serving.Upstreams;

/// <summary>
/// Reads server-sent events from an upstream: the joined <c>data:</c> lines of each event, as they arrive (no read
/// ahead beyond one socket read). A line or event longer than <see cref="MaxEventBytes"/> is malformed, so an upstream
/// that never sends a newline cannot fill the gateway's memory.
/// </summary>
public sealed class SseReader(Stream stream)
{
    public const int MaxEventBytes = 4 << 20;

    readonly byte[] buffer = new byte[16 * 1024];
    int start, end;

    /// <summary>The next event's data; null at the end of the stream. Throws <see cref="InvalidDataException"/> when malformed.</summary>
    public async Task<string?> NextAsync(CancellationToken cancel)
    {
        StringBuilder? data = null;
        while (true)
        {
            var line = await LineAsync(cancel);
            if (line is null) return data?.ToString();
            if (line.Length == 0)
            {
                if (data is not null) return data.ToString();
                continue;
            }
            if (line[0] == ':') continue; // a comment (keep-alive)
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' ')) value = value[1..];
            if (field != "data") continue; // event, id, retry: nothing the relay needs
            if (data is null) data = new StringBuilder(value);
            else data.Append('\n').Append(value);
            if (data.Length > MaxEventBytes) throw new InvalidDataException("an event is longer than the limit");
        }
    }

    async Task<string?> LineAsync(CancellationToken cancel)
    {
        using var line = new MemoryStream();
        while (true)
        {
            var newline = Array.IndexOf(buffer, (byte)'\n', start, end - start);
            if (newline >= 0)
            {
                line.Write(buffer, start, newline - start);
                start = newline + 1;
                return Decode(line);
            }
            line.Write(buffer, start, end - start);
            if (line.Length > MaxEventBytes) throw new InvalidDataException("a line is longer than the limit");
            (start, end) = (0, await stream.ReadAsync(buffer, cancel));
            if (end == 0) return line.Length > 0 ? Decode(line) : null;
        }
    }

    static string Decode(MemoryStream line)
    {
        var bytes = line.GetBuffer().AsSpan(0, (int)line.Length);
        if (bytes.Length > 0 && bytes[^1] == '\r') bytes = bytes[..^1];
        return Encoding.UTF8.GetString(bytes);
    }
}
