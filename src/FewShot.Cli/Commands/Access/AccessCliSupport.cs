using System.CommandLine;
using FewShot.Access;
using FewShot.Access.Keys;
using FewShot.Access.Storage;
using Spectre.Console;

namespace FewShot.Cli.Commands.Access;

/// <summary>What the keys and usage commands share: the --db option and how keys look in a table.</summary>
static class AccessCliSupport
{
    public static Option<string> Database() => new("--db")
    {
        Description = "The access database: a SQLite file (the one `fewshot serve --db` uses), sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB (`serve --store`)",
        DefaultValueFactory = _ => AccessOptions.DefaultDatabasePath(),
    };

    /// <summary>Opens the store; a missing database is an error for every command but issue (which creates it).</summary>
    public static KeyService Open(string path, bool create = false)
    {
        if (path.Contains("://", StringComparison.Ordinal) || path.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
        {
            var location = StoreLocation.Parse(path, "--db");
            if (!location.IsPostgres) return Open(location.SqlitePath!, create);
            return new KeyService(location.Open(), TimeProvider.System);
        }
        if (!create && !File.Exists(path))
            throw new FileNotFoundException($"{path}: no access database here (issue a key or start `fewshot serve` first, or pass --db)");
        return new KeyService(new SqliteAccessStore(path), TimeProvider.System);
    }

    public static string Limit(long? value) => value is null ? "-" : Cli.Infrastructure.Units.Count(value.Value);

    public static Table KeyTable(IEnumerable<KeyRecord> keys, DateTimeOffset now)
    {
        var table = new Table().AddColumns("id", "label", "hint", "status", "budget", "period", "rpm", "tpm", "max_tokens", "models", "expires", "created");
        foreach (var k in keys)
            table.AddRow(Markup.Escape(k.Id), Markup.Escape(k.Label), Markup.Escape(k.Hint), k.Status(now), Limit(k.Limits.BudgetTokens),
                KeyLimits.Name(k.Limits.Period), Limit(k.Limits.RequestsPerMinute), Limit(k.Limits.TokensPerMinute), Limit(k.Limits.MaxTokens),
                Markup.Escape(k.Models.Count == 0 ? "all" : string.Join(",", k.Models)), k.ExpiresAt?.ToString("yyyy-MM-dd HH:mm") ?? "never",
                k.CreatedAt.ToString("yyyy-MM-dd HH:mm"));
        return table;
    }

    public static IReadOnlyList<string> List(string? commaSeparated) =>
        commaSeparated?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? [];
}
