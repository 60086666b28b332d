using Npgsql;

namespace FewShot.Access.Storage;

/// <summary>
/// Where the access store lives, as the operator writes it in Access:Store (--store): "sqlite:PATH" (the embedded
/// default, one server) or "postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=..." (several servers share it).
/// </summary>
public sealed record StoreLocation(string? SqlitePath, string? PostgresConnectionString)
{
    public bool IsPostgres => PostgresConnectionString is not null;

    /// <summary>Parses a store setting; a problem is a <see cref="FormatException"/> whose one line names the setting.</summary>
    public static StoreLocation Parse(string value, string setting = "Access:Store")
    {
        if (value.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
        {
            var path = value["sqlite:".Length..];
            if (path.Length == 0 || path.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
                throw new FormatException($"{setting}: '{value}' has no usable file path after sqlite:");
            return new StoreLocation(path, null);
        }
        if (value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            return new StoreLocation(null, ToConnectionString(value, setting));
        throw new FormatException($"{setting}: '{Redacted(value)}' is neither sqlite:PATH nor postgres://USER:PASSWORD@HOST:PORT/DATABASE");
    }

    /// <summary>The store from Access:Store when set, else the SQLite file at Access:DatabasePath.</summary>
    public static StoreLocation From(AccessOptions options) =>
        string.IsNullOrWhiteSpace(options.Store) ? new StoreLocation(options.DatabasePath, null) : Parse(options.Store);

    /// <summary>Opens the store (a PostgreSQL store migrates its schema first).</summary>
    public IAccessStore Open() => IsPostgres ? new PostgresAccessStore(PostgresConnectionString!) : new SqliteAccessStore(SqlitePath!);

    /// <summary>What the log may show: the path, or the server and database without the password.</summary>
    public string Describe()
    {
        if (!IsPostgres) return Path.GetFullPath(SqlitePath!);
        var b = new NpgsqlConnectionStringBuilder(PostgresConnectionString);
        return $"postgres://{b.Host}:{b.Port}/{b.Database}";
    }

    static string ToConnectionString(string value, string setting)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            throw new FormatException($"{setting}: '{Redacted(value)}' is not a postgres:// URL with a host");
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length == 0 || database.Contains('/'))
            throw new FormatException($"{setting}: '{Redacted(value)}' names no database (postgres://USER:PASSWORD@HOST:PORT/DATABASE)");
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Database = database,
        };
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':');
            builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0) builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var (name, setValue) = eq < 0 ? (pair, "") : (pair[..eq], Uri.UnescapeDataString(pair[(eq + 1)..]));
            try
            {
                switch (name.ToLowerInvariant())
                {
                    case "sslmode": builder.SslMode = Enum.Parse<SslMode>(setValue, ignoreCase: true); break;
                    case "pool_size": builder.MaxPoolSize = int.Parse(setValue, System.Globalization.CultureInfo.InvariantCulture); break;
                    case "timeout": builder.Timeout = int.Parse(setValue, System.Globalization.CultureInfo.InvariantCulture); break;
                    default: throw new FormatException($"{setting}: unknown parameter '{name}' (known: sslmode, pool_size, timeout)");
                }
            }
            catch (Exception e) when (e is ArgumentException or OverflowException || (e is FormatException && !e.Message.StartsWith(setting, StringComparison.Ordinal)))
            {
                throw new FormatException($"{setting}: parameter '{name}' has a bad value '{setValue}'");
            }
        }
        return builder.ConnectionString;
    }

    /// <summary>The value with any password replaced, so that an error line never shows it.</summary>
    static string Redacted(string value)
    {
        var scheme = value.IndexOf("://", StringComparison.Ordinal);
        var at = value.LastIndexOf('@');
        if (scheme < 0 || at < scheme) return value;
        var colon = value.IndexOf(':', scheme + 3);
        return colon < 0 || colon > at ? value : value[..(colon + 1)] + "***" + value[at..];
    }
}
