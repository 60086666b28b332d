namespace FewShot.Cli.Tests;

/// <summary>`fewshot keys`: issue, list, show, rotate and revoke on a fresh SQLite store, and one-line errors with exit 2.</summary>
public sealed class KeysCommandTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("fewshot-keys-cli-").FullName;
    string Database => Path.Combine(folder, "access.db");

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void AKeyIsIssuedOnceListedWithoutItsSecretRotatedAndRevoked()
    {
        var issued = Cli.Run("keys", "issue", "--db", Database, "--label", "alice", "--budget", "5000", "--rpm", "60", "--json");
        Assert.True(issued.ExitCode == 0, issued.ToString());
        var id = issued.Json.GetProperty("id").GetString()!;
        var secret = issued.Json.GetProperty("key").GetString()!;
        Assert.StartsWith("fs-", secret);
        Assert.Equal(5000, issued.Json.GetProperty("budget_tokens").GetInt64());
        Assert.Equal(60, issued.Json.GetProperty("rpm").GetInt64());

        var listed = Cli.Run("keys", "list", "--db", Database, "--json");
        var entry = Assert.Single(listed.Json.GetProperty("data").EnumerateArray());
        Assert.Equal(id, entry.GetProperty("id").GetString());
        Assert.False(entry.TryGetProperty("key", out _));
        Assert.DoesNotContain(secret, listed.Stdout);

        var rotated = Cli.Run("keys", "rotate", id, "--db", Database, "--grace", "0s", "--json");
        Assert.True(rotated.ExitCode == 0, rotated.ToString());
        Assert.NotEqual(secret, rotated.Json.GetProperty("key").GetString());

        Assert.Equal(0, Cli.Run("keys", "revoke", id, "--db", Database).ExitCode);
        Assert.Equal("revoked", Cli.Run("keys", "show", id, "--db", Database, "--json").Json.GetProperty("status").GetString());

        // The store keeps hashes only: neither secret is in the database's files.
        var bytes = string.Concat(Directory.GetFiles(folder).Select(f => File.ReadAllText(f, System.Text.Encoding.Latin1)));
        Assert.DoesNotContain(secret[3..], bytes);
        Assert.DoesNotContain(rotated.Json.GetProperty("key").GetString()![3..], bytes);
        Assert.Contains("alice", bytes);
    }

    [Fact]
    public void AMissingDatabaseIsNamed()
    {
        var result = Cli.Run("keys", "list", "--db", Database);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{Database}: no access database here", result.Stderr);
        Assert.False(File.Exists(Database));
    }

    [Theory]
    [InlineData("budget_tokens must be positive", "keys", "issue", "--budget", "-5")]
    [InlineData("--expires: 'yesterday' is not a duration", "keys", "issue", "--expires", "yesterday")]
    [InlineData("no key with id 'key_nope'", "keys", "show", "key_nope")]
    [InlineData("no key with id 'key_nope'", "keys", "revoke", "key_nope")]
    public void BadInputGetsOneLineAndExitTwo(string expected, params string[] args)
    {
        Assert.Equal(0, Cli.Run("keys", "issue", "--db", Database, "--label", "first").ExitCode);
        var result = Cli.Run([.. args, "--db", Database]);
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
    }
}
