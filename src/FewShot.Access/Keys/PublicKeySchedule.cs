using System.Globalization;

namespace FewShot.Access.Keys;

/// <summary>
/// When the public rotating key changes: every <see cref="Interval"/> counted from <see cref="Anchor"/> (the Unix epoch for
/// daily keys, Monday 1970-01-05 UTC for weekly ones), so periods start at midnight UTC. The key of period i is valid
/// from Start(i) until Start(i+1) + <see cref="Grace"/>.
/// </summary>
public sealed record PublicKeySchedule(string Name, TimeSpan Interval, DateTimeOffset Anchor, TimeSpan Grace)
{
    static readonly DateTimeOffset Monday = new(1970, 1, 5, 0, 0, 0, TimeSpan.Zero);

    /// <summary>"daily", "weekly", or an interval such as "6h", "90m", "2d".</summary>
    public static PublicKeySchedule Parse(string rotation, TimeSpan grace)
    {
        if (grace < TimeSpan.Zero) throw new LimitException("grace", $"grace must not be negative (got {grace})");
        var schedule = rotation.Trim().ToLowerInvariant() switch
        {
            "daily" or "day" => new PublicKeySchedule("daily", TimeSpan.FromDays(1), DateTimeOffset.UnixEpoch, grace),
            "weekly" or "week" => new PublicKeySchedule("weekly", TimeSpan.FromDays(7), Monday, grace),
            var text => new PublicKeySchedule(text, Durations.Parse(text, "rotation"), DateTimeOffset.UnixEpoch, grace),
        };
        if (schedule.Interval < TimeSpan.FromSeconds(1)) throw new LimitException("rotation", "rotation interval must be at least 1s");
        if (grace >= schedule.Interval) throw new LimitException("grace", $"grace {grace} must be shorter than the rotation interval {schedule.Interval}");
        return schedule;
    }

    public long Index(DateTimeOffset now) => (long)Math.Floor((now - Anchor).Ticks / (double)Interval.Ticks);
    public DateTimeOffset Start(long index) => Anchor + TimeSpan.FromTicks(Interval.Ticks * index);
}

/// <summary>Durations as people type them: 30s, 15m, 12h, 30d, 2w.</summary>
public static class Durations
{
    public static TimeSpan Parse(string text, string field)
    {
        text = text.Trim().ToLowerInvariant();
        if (text.Length >= 2 && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0)
        {
            var span = text[^1] switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                'd' => TimeSpan.FromDays(n),
                'w' => TimeSpan.FromDays(7 * n),
                _ => (TimeSpan?)null,
            };
            if (span is { } s) return s;
        }
        throw new LimitException(field, $"{field}: '{text}' is not a duration such as 30s, 15m, 12h, 30d or 2w");
    }

    /// <summary>A point in time: an ISO date/time, or a duration from now (forward for expiry, backward for --since).</summary>
    public static DateTimeOffset ParseTime(string text, DateTimeOffset now, bool past, string field)
    {
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
            return at;
        var span = Parse(text, field);
        return past ? now - span : now + span;
    }

    /// <summary>OpenAI's style for reset headers: "1s", "6m0s", "1h2m3s".</summary>
    public static string Format(TimeSpan span)
    {
        if (span < TimeSpan.Zero) span = TimeSpan.Zero;
        if (span < TimeSpan.FromMinutes(1)) return string.Create(CultureInfo.InvariantCulture, $"{Math.Ceiling(span.TotalSeconds * 1000) / 1000:0.###}s");
        var seconds = (long)Math.Ceiling(span.TotalSeconds);
        return seconds >= 3600 ? $"{seconds / 3600}h{seconds % 3600 / 60}m{seconds % 60}s" : $"{seconds / 60}m{seconds % 60}s";
    }
}
