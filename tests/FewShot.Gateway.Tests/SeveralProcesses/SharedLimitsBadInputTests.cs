using FewShot.Access.Tests.Servers;

namespace FewShot.Gateway.Tests.SeveralProcesses;

/// <summary>A Redis that cannot run the admission scripts: `fewshot serve --limits redis://...` says so in one line, exits 2, writes nothing.</summary>
public sealed class SharedLimitsBadInputTests
{
    [Fact]
    public async Task ARedisWithoutScriptingIsOneLineNamingItExit2AndNothingWritten()
    {
        var redis = new RedisServer { Settings = ["--rename-command", "EVAL", "", "--rename-command", "EVALSHA", ""] };
        await redis.InitializeAsync();
        try
        {
            using var folder = new TempFolder();
            var database = folder.File("access.db");
            var result = await BadInputTests.RunServeAsync(["--upstream", "up=http://127.0.0.1:1/v1", "--db", database, "--limits", redis.Url]);
            BadInputTests.OneLineNaming(result, "Access:Limits");
            Assert.Contains("does not run scripts", result.Stderr);
            Assert.False(File.Exists(database), "the store was opened");
        }
        finally { await redis.DisposeAsync(); }
    }
}
