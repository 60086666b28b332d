namespace FewShot.Model.Generation;

/// <summary>
/// Tracks the text generated so far for one sequence and decides how much of it can be released: text that could still
/// turn into a stop sequence is held back until it can't.
/// </summary>
public sealed class StopSequenceFilter(IReadOnlyList<string> stops)
{
    readonly string[] stops = [.. stops.Where(s => s.Length > 0)];
    int released;

    /// <summary>True once a stop sequence appeared; <see cref="FinalText"/> is then cut before it.</summary>
    public bool Stopped { get; private set; }
    public string FinalText { get; private set; } = "";

    /// <summary>Given the whole text generated so far, returns the newly releasable part.</summary>
    public string Update(string text)
    {
        if (Stopped) return "";
        var cut = -1;
        foreach (var stop in stops)
        {
            var at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            FinalText = text[..cut];
            return Release(FinalText, FinalText.Length);
        }

        // Hold back the longest tail that is a proper prefix of some stop sequence, and an unfinished UTF-16 pair.
        var hold = 0;
        foreach (var stop in stops)
            for (var n = Math.Min(stop.Length - 1, text.Length); n > hold; n--)
                if (text.AsSpan(text.Length - n).SequenceEqual(stop.AsSpan(0, n))) { hold = n; break; }
        var safe = text.Length - hold;
        // A token can end inside a multi-byte character: its bytes decode to U+FFFD until the next token completes it.
        while (safe > 0 && (text[safe - 1] == '\uFFFD' || char.IsHighSurrogate(text[safe - 1]))) safe--;
        FinalText = text;
        return Release(text, safe);
    }

    /// <summary>Releases whatever was held back once generation ended without a stop.</summary>
    public string Flush() => Stopped ? "" : Release(FinalText, FinalText.Length);

    string Release(string text, int upTo)
    {
        if (upTo <= released) return "";
        var piece = text[released..upTo];
        released = upTo;
        return piece;
    }
}
