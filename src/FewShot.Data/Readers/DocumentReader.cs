using System.IO.Compression;
using System.Text;
using System.Text.Json;
using FewShot.Data.Mixture;
using ZstdSharp;

namespace FewShot.Data.Readers;

/// <summary>
/// Streams a source's documents: text files (a file is a document, or documents split by a separator), JSON Lines
/// (plain, .gz, .zst) with a text field, Parquet with a text column. Bad records are skipped and logged with file and
/// line; a truncated or corrupt compressed file ends that file with a logged message; a missing path is an error.
/// </summary>
public static class DocumentReader
{
    public static IEnumerable<SourceDocument> Read(SourceSpec source, string baseDirectory, ReadLog log, ReaderLimits? limits = null)
    {
        limits ??= new ReaderLimits();
        var files = PathResolver.Resolve(source.Paths, baseDirectory, source.Name, f => FormatOf(f, null) is not null);
        foreach (var file in files)
        {
            var format = FormatOf(file, source.Format)
                ?? throw new FormatException($"source '{source.Name}': cannot tell the format of '{file}' (set \"format\": txt, md, jsonl, jsonl.gz, jsonl.zst or parquet)");
            var documents = format switch
            {
                "txt" or "md" => ReadText(file, source.Separator, log, limits),
                "jsonl" or "jsonl.gz" or "jsonl.zst" => ReadJsonLines(file, format, source.TextField, log, limits),
                "parquet" => ParquetDocuments.Read(file, source.TextField ?? "text", log),
                _ => throw new FormatException($"source '{source.Name}': unknown format '{format}'"),
            };
            foreach (var document in documents) yield return document;
        }
    }

    /// <summary>The format named by the source, else the one the file's extension implies; null when neither tells.</summary>
    public static string? FormatOf(string file, string? declared)
    {
        if (!string.IsNullOrEmpty(declared)) return declared.ToLowerInvariant();
        var name = file.ToLowerInvariant();
        if (name.EndsWith(".jsonl.gz") || name.EndsWith(".json.gz")) return "jsonl.gz";
        if (name.EndsWith(".jsonl.zst") || name.EndsWith(".json.zst")) return "jsonl.zst";
        if (name.EndsWith(".jsonl") || name.EndsWith(".ndjson")) return "jsonl";
        if (name.EndsWith(".parquet")) return "parquet";
        if (name.EndsWith(".txt")) return "txt";
        if (name.EndsWith(".md")) return "md";
        return null;
    }

    static Stream Open(string file, string format)
    {
        Stream stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return format switch
        {
            "jsonl.gz" => new GZipStream(stream, CompressionMode.Decompress),
            "jsonl.zst" => new DecompressionStream(stream),
            _ => stream,
        };
    }

    static IEnumerable<SourceDocument> ReadJsonLines(string file, string format, string? textField, ReadLog log, ReaderLimits limits)
    {
        using var stream = Open(file, format);
        var lines = new BoundedLineReader(stream, limits.MaxRecordBytes);
        while (true)
        {
            string? line;
            bool tooLong;
            try
            {
                if (!lines.TryReadLine(out line, out tooLong)) break;
            }
            catch (Exception e) when (e is InvalidDataException or IOException or ZstdException or EndOfStreamException)
            {
                log.Skip($"{file}:{lines.LineNumber + 1}: the {format} file is truncated or corrupt ({e.Message}); the rest of the file is skipped");
                yield break;
            }
            var origin = $"{file}:{lines.LineNumber}";
            if (tooLong) { log.Skip($"{origin}: line longer than {limits.MaxRecordBytes:N0} bytes, skipped"); continue; }
            if (string.IsNullOrWhiteSpace(line)) continue;
            var text = TextOfJson(line, textField, origin, log);
            if (text is not null) yield return new SourceDocument(text, origin);
        }
        // GZipStream ends quietly at a cut: compare the gzip trailer's size field with what was decompressed.
        if (format == "jsonl.gz" && !GzipSizeMatches(file, lines.TotalBytes))
            log.Skip($"{file}:{lines.LineNumber}: the jsonl.gz file is truncated or corrupt (its trailer does not match the {lines.TotalBytes:N0} bytes decompressed); documents before the damage were kept");
        else if (format == "jsonl.zst" && !lines.LastLineTerminated)
            log.Skip($"{file}:{lines.LineNumber}: the jsonl.zst stream ends in the middle of a line (truncated or corrupt file?)");
    }

    /// <summary>ISIZE, the last 4 bytes of a gzip file, is the uncompressed size modulo 2^32 (of the last member).</summary>
    static bool GzipSizeMatches(string file, long decompressed)
    {
        using var stream = File.OpenRead(file);
        if (stream.Length < 18) return false;
        stream.Seek(-4, SeekOrigin.End);
        Span<byte> trailer = stackalloc byte[4];
        stream.ReadExactly(trailer);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(trailer) == (uint)decompressed;
    }

    /// <summary>The text field of one JSON object; without a field name, all top-level string values joined by newlines.</summary>
    internal static string? TextOfJson(string line, string? textField, string origin, ReadLog log)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.ValueKind != JsonValueKind.Object) { log.Skip($"{origin}: not a JSON object"); return null; }
            if (textField is null)
                return string.Join("\n", json.RootElement.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String).Select(p => p.Value.GetString()));
            if (!json.RootElement.TryGetProperty(textField, out var value)) { log.Skip($"{origin}: field '{textField}' is missing"); return null; }
            if (value.ValueKind != JsonValueKind.String) { log.Skip($"{origin}: field '{textField}' is {value.ValueKind}, not a string"); return null; }
            return value.GetString();
        }
        catch (JsonException e) { log.Skip($"{origin}: not valid JSON ({e.Message})"); return null; }
    }

    /// <summary>A text file as one document, or split at <paramref name="separator"/>; documents over the bound are skipped.</summary>
    static IEnumerable<SourceDocument> ReadText(string file, string? separator, ReadLog log, ReaderLimits limits)
    {
        using var reader = new StreamReader(file, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, 1 << 16);
        var maxChars = limits.MaxRecordBytes;
        const int chunk = 1 << 16;
        if (string.IsNullOrEmpty(separator))
        {
            var whole = new StringBuilder();
            var part = new char[chunk];
            for (int n; (n = reader.Read(part, 0, chunk)) > 0;)
            {
                if (whole.Length + n > maxChars) { log.Skip($"{file}: document longer than {maxChars:N0} characters, skipped (set \"separator\" to split the file)"); yield break; }
                whole.Append(part, 0, n);
            }
            if (whole.Length > 0) yield return new SourceDocument(whole.ToString(), file);
            yield break;
        }
        // A window [start, end) over the file; documents end at the separator. Only new text is searched.
        var buffer = new char[4 * chunk];
        int start = 0, end = 0, scanFrom = 0;
        long line = 1, documentLine = 1;
        var overLimit = false;
        while (true)
        {
            while (true)
            {
                var at = buffer.AsSpan(scanFrom, end - scanFrom).IndexOf(separator.AsSpan(), StringComparison.Ordinal);
                if (at < 0) break;
                at += scanFrom;
                if (overLimit) log.Skip($"{file}:{documentLine}: document longer than {maxChars:N0} characters, skipped");
                else if (at > start) yield return new SourceDocument(new string(buffer, start, at - start), $"{file}:{documentLine}");
                overLimit = false;
                line += buffer.AsSpan(start, at + separator.Length - start).Count('\n');
                documentLine = line;
                start = scanFrom = at + separator.Length;
            }
            scanFrom = Math.Max(start, end - separator.Length + 1);
            if (end - start > maxChars)
            {
                // Too long: forget it (keeping a possible partial separator) and skip it when it ends.
                overLimit = true;
                var keepFrom = Math.Max(start, end - separator.Length + 1);
                line += buffer.AsSpan(start, keepFrom - start).Count('\n');
                start = keepFrom;
            }
            if (start > 0)
            {
                Array.Copy(buffer, start, buffer, 0, end - start);
                (end, scanFrom, start) = (end - start, scanFrom - start, 0);
            }
            if (buffer.Length - end < chunk) Array.Resize(ref buffer, buffer.Length * 2);
            var n = reader.Read(buffer, end, chunk);
            if (n == 0) break;
            end += n;
        }
        if (overLimit) log.Skip($"{file}:{documentLine}: document longer than {maxChars:N0} characters, skipped");
        else if (end > start) yield return new SourceDocument(new string(buffer, start, end - start), $"{file}:{documentLine}");
    }

}
