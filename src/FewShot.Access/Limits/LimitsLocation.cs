using System.Globalization;
using StackExchange.Redis;

namespace FewShot.Access.Limits;

/// <summary>
/// Where rate limits and budget reservations live, as Access:Limits (--limits) says: "memory" (the default, one
/// instance) or "redis://[:PASSWORD@]HOST:PORT[/DB]" (every instance on that Redis shares them, <see cref="RedisAdmission"/>).
/// </summary>
public sealed record LimitsLocation(ConfigurationOptions? Redis)
{
    public static readonly LimitsLocation Memory = new((ConfigurationOptions?)null);

    /// <summary>Parses the setting; a problem is a <see cref="FormatException"/> whose one line names it (never the password).</summary>
    public static LimitsLocation Parse(string? value, string setting = "Access:Limits")
    {
        if (string.IsNullOrWhiteSpace(value) || value.Equals("memory", StringComparison.OrdinalIgnoreCase)) return Memory;
        if (!value.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || !Uri.TryCreate(value, UriKind.Absolute, out var uri)
            || string.IsNullOrEmpty(uri.Host) || uri.Query.Length > 0)
            throw new FormatException($"{setting}: '{Redacted(value)}' is neither memory nor redis://[:PASSWORD@]HOST:PORT[/DB]");
        var options = new ConfigurationOptions { ConnectTimeout = 2000, SyncTimeout = 2000, AsyncTimeout = 2000, ConnectRetry = 1 };
        options.EndPoints.Add(uri.Host, uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port);
        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            if (!int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out var db) || db > 15)
                throw new FormatException($"{setting}: '{Redacted(value)}' has a database '{path}' that is not a number 0..15");
            options.DefaultDatabase = db;
        }
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':');
            if (colon > 0) options.User = Uri.UnescapeDataString(uri.UserInfo[..colon]);
            options.Password = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[(colon + 1)..]);
        }
        return new LimitsLocation(options);
    }

    static string Redacted(string value)
    {
        var at = value.LastIndexOf('@');
        return at < 0 ? value : "redis://***" + value[at..];
    }
}
