using System.Text;

namespace FewShot.Data.Cleaning;

/// <summary>Why the cleaner dropped a document (counted per source in the report).</summary>
public enum DropReason { None, Empty, TooShort, TooLong, InvalidUtf8 }

/// <summary>Length limits and the repair threshold for invalid UTF-8.</summary>
public sealed record CleaningOptions
{
    public int MinChars { get; init; } = 1;
    public int MaxChars { get; init; } = 10_000_000;
    /// <summary>Documents whose invalid UTF-8 (decoded as U+FFFD) exceeds this share of characters are dropped; fewer are repaired (removed).</summary>
    public double MaxInvalidShare { get; init; } = 0.01;
}

/// <summary>
/// Unicode NFC, invalid UTF-8 repaired or dropped, control characters stripped (tab and newline kept, CRLF to LF),
/// trailing whitespace trimmed, length limits. Language-neutral: CJK text passes unchanged except for NFC.
/// </summary>
public static class TextCleaner
{
    public readonly record struct Result(string? Text, DropReason Reason, bool Repaired);

    public static Result Clean(string text, CleaningOptions options)
    {
        if (text.Length > options.MaxChars * 2L) return new(null, DropReason.TooLong, false);
        var invalid = text.AsSpan().Count('\uFFFD');
        if (invalid > 0 && invalid > options.MaxInvalidShare * text.Length) return new(null, DropReason.InvalidUtf8, false);
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\r') { if (i + 1 < text.Length && text[i + 1] == '\n') continue; builder.Append('\n'); continue; }
            if (c == '\uFFFD') continue;
            if (c is '\n' or '\t') { builder.Append(c); continue; }
            if (char.IsControl(c) || c is '\uFEFF' or '\u200B') continue;
            if (char.IsSurrogate(c))
            {
                // Lone surrogates cannot be encoded as UTF-8: drop them, keep valid pairs.
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { builder.Append(c).Append(text[++i]); }
                continue;
            }
            builder.Append(c);
        }
        var cleaned = builder.ToString().Trim();
        if (!cleaned.IsNormalized(NormalizationForm.FormC)) cleaned = cleaned.Normalize(NormalizationForm.FormC);
        if (cleaned.Length == 0) return new(null, DropReason.Empty, invalid > 0);
        if (cleaned.Length < options.MinChars) return new(null, DropReason.TooShort, invalid > 0);
        if (cleaned.Length > options.MaxChars) return new(null, DropReason.TooLong, invalid > 0);
        return new(cleaned, DropReason.None, invalid > 0);
    }
}
