using FewShot.Access.Keys;
using FewShot.Access.Storage;
using FewShot.Access.Tests.Servers;
using Npgsql;

namespace FewShot.Access.Tests.Stores;

/// <summary>What only the PostgreSQL store has: migrations at start, shared by instances, and its failures at start.</summary>
public sealed class PostgresStoreTests(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task MigrationsRunOnceAndInstancesStartingTogetherShareTheSchema()
    {
        var url = await postgres.NewDatabaseAsync();
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => StoreLocation.Parse(url).Open())));
        await stores[0].InsertKeyAsync(new KeyRecord("key_x", KeyKind.Personal, "x", [1], "h", DateTimeOffset.UnixEpoch, null, null, [], [], KeyLimits.None));
        Assert.Equal("x", (await stores[3].GetKeyAsync("key_x"))!.Label);

        var reopened = StoreLocation.Parse(url).Open();
        Assert.Single(await reopened.ListKeysAsync());
        Assert.Equal(new[] { 1 }, await ReadVersionsAsync(url));
    }

    [Fact]
    public async Task ADatabaseAtANewerSchemaIsRefusedWithOneLineAndLeftAlone()
    {
        var url = await postgres.NewDatabaseAsync();
        StoreLocation.Parse(url).Open();
        await ExecuteAsync(url, "INSERT INTO fewshot_schema(version) VALUES(99)");

        var error = Assert.Throws<InvalidDataException>(() => StoreLocation.Parse(url).Open());
        Assert.Contains("Access:Store", error.Message);
        Assert.Contains("99", error.Message);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Equal(new[] { 1, 99 }, await ReadVersionsAsync(url));
    }

    [Fact]
    public async Task ADatabaseWhoseSchemaCannotBeMigratedIsRefusedWithOneLineAndNothingIsWritten()
    {
        // An older database whose tables are not what step 1 expects (here: someone else's "usage" table).
        var url = await postgres.NewDatabaseAsync();
        await ExecuteAsync(url, "CREATE TABLE usage (id INTEGER PRIMARY KEY, note TEXT)");

        var error = Assert.Throws<InvalidDataException>(() => StoreLocation.Parse(url).Open());
        Assert.StartsWith("Access:Store: the database's schema is at version 0 and cannot be migrated", error.Message);
        Assert.Contains("step 1", error.Message);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Equal(new[] { "usage" }, await ReadTablesAsync(url));  // no fewshot_schema, no settings or keys: the step rolled back
    }

    [Fact]
    public void AnUnreachableServerIsOneLineNamingTheStoreWithoutThePassword()
    {
        var port = FreePort.Next();
        var error = Assert.Throws<InvalidDataException>(() => StoreLocation.Parse($"postgres://u:hunter2@127.0.0.1:{port}/db?timeout=2").Open());
        Assert.StartsWith("Access:Store: cannot use PostgreSQL at 127.0.0.1:" + port, error.Message);
        Assert.DoesNotContain("hunter2", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    Task<int[]> ReadVersionsAsync(string url) => ReadColumnAsync(url, "SELECT version FROM fewshot_schema ORDER BY version", r => r.GetInt32(0));

    Task<string[]> ReadTablesAsync(string url) =>
        ReadColumnAsync(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", r => r.GetString(0));

    async Task<T[]> ReadColumnAsync<T>(string url, string sql, Func<NpgsqlDataReader, T> read)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString(new Uri(url).AbsolutePath.Trim('/')));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<T>();
        while (await reader.ReadAsync()) values.Add(read(reader));
        return [.. values];
    }

    async Task ExecuteAsync(string url, string sql)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString(new Uri(url).AbsolutePath.Trim('/')));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

public sealed class StoreLocationTests
{
    [Theory]
    [InlineData("mysql://h/db")]
    [InlineData("sqlite:")]
    [InlineData("postgres://u:secret@/db")]
    [InlineData("postgres://u:secret@host:5432/")]
    [InlineData("postgres://u:secret@host:5432/db?sslmode=sometimes")]
    [InlineData("postgres://u:secret@host:5432/db?color=blue")]
    [InlineData("/just/a/path")]
    public void MalformedLocationsAreOneLineNamingTheSettingAndNeverThePassword(string value)
    {
        var error = Assert.Throws<FormatException>(() => StoreLocation.Parse(value));
        Assert.StartsWith("Access:Store: ", error.Message);
        Assert.DoesNotContain("secret", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void APostgresUrlBecomesAConnectionString()
    {
        var location = StoreLocation.Parse("postgresql://fewshot:p%40ss@db.internal:6543/access?sslmode=require&pool_size=20");
        var b = new NpgsqlConnectionStringBuilder(location.PostgresConnectionString);
        Assert.Equal(("db.internal", 6543, "access", "fewshot", "p@ss", SslMode.Require, 20), (b.Host, b.Port, b.Database, b.Username, b.Password, b.SslMode, b.MaxPoolSize));
        Assert.Equal("postgres://db.internal:6543/access", location.Describe());
    }

    [Fact]
    public void WithoutAStoreSettingTheSqliteFileAtDatabasePathIsUsed()
    {
        var location = StoreLocation.From(new AccessOptions { DatabasePath = "/tmp/x/access.db" });
        Assert.Equal("/tmp/x/access.db", location.SqlitePath);
        Assert.Equal("/tmp/y.db", StoreLocation.From(new AccessOptions { Store = "sqlite:/tmp/y.db" }).SqlitePath);
    }
}
