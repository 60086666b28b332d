using System.Net;
using System.Text;
using FewShot.Access.Keys;

namespace FewShot.Access.Tests;

public class RotationTests
{
    [Fact]
    public async Task ThePublicKeyWorksThroughItsGraceThenFailsAsRotated()
    {
        var time = new ManualTime(new DateTimeOffset(2026, 3, 2, 10, 0, 0, TimeSpan.Zero));
        await using var server = await TestServer.StartAsync(o =>
        {
            o.Time = time;
            o.PublicKey = new PublicKeyOptions("daily", TimeSpan.FromHours(1), new KeyLimits(BudgetTokens: 10_000));
            o.RotatedKeyHint = "Get today's key from the channel.";
        });
        var monday = (await server.Keys.CurrentPublicKeyAsync())!;
        Assert.StartsWith("fsp-", monday.Key);
        Assert.Equal(new DateTimeOffset(2026, 3, 3, 0, 0, 0, TimeSpan.Zero), monday.RotatesAt);
        using var old = server.Client(monday.Key);
        Assert.Equal(HttpStatusCode.OK, (await old.PostAsync("v1/chat/completions", TestServer.Chat())).StatusCode);

        time.Advance(TimeSpan.FromHours(14.5));  // 00:30 next day: inside the hour of grace
        var tuesday = (await server.Keys.CurrentPublicKeyAsync())!;
        Assert.NotEqual(monday.Key, tuesday.Key);
        using var fresh = server.Client(tuesday.Key);
        Assert.Equal(HttpStatusCode.OK, (await old.PostAsync("v1/chat/completions", TestServer.Chat())).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fresh.PostAsync("v1/chat/completions", TestServer.Chat())).StatusCode);

        time.Advance(TimeSpan.FromMinutes(31));  // 01:01: grace over
        var rotated = await old.PostAsync("v1/chat/completions", TestServer.Chat());
        Assert.Equal(HttpStatusCode.Unauthorized, rotated.StatusCode);
        var error = await TestServer.ErrorAsync(rotated);
        Assert.Equal("invalid_api_key", error["code"]!.GetValue<string>());
        Assert.Contains("This key has rotated", error["message"]!.GetValue<string>());
        Assert.Contains("Get today's key from the channel.", error["message"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await fresh.PostAsync("v1/chat/completions", TestServer.Chat())).StatusCode);
        // One budget across rotations: all four successful requests were charged to the public key.
        await server.Server.Access.Budgets.FlushAsync();
        Assert.Equal(4 * 18, await server.Server.Access.Store.SumUsageAsync(KeyRecord.PublicKeyId, DateTimeOffset.UnixEpoch));
        var audit = await server.Server.Access.Store.ReadAuditAsync(DateTimeOffset.UnixEpoch, 100);
        Assert.Contains(audit, a => a.Event == "rotated_key");
    }

    [Fact]
    public async Task AnotherProcessWithTheSameDatabaseDerivesTheSameCurrentKey()
    {
        await using var server = await TestServer.StartAsync(o => o.PublicKey = new PublicKeyOptions("6h", TimeSpan.FromMinutes(5)));
        var served = (await server.Keys.CurrentPublicKeyAsync())!;
        // What `fewshot keys current` does: open the store afresh and derive.
        var cli = new KeyService(new Storage.SqliteAccessStore(server.DatabasePath), TimeProvider.System);
        var printed = (await cli.CurrentPublicKeyAsync())!;
        Assert.Equal(served.Key, printed.Key);
        Assert.Equal(TimeSpan.FromHours(6), printed.Schedule.Interval);
        Assert.True(printed.RotatesAt - DateTimeOffset.UtcNow <= TimeSpan.FromHours(6));
    }

    [Fact]
    public async Task TheDatabaseFileHoldsNoKeyInPlaintext()
    {
        var keys = new List<string>();
        string folder;
        await using (var server = await TestServer.StartAsync(o => o.PublicKey = new PublicKeyOptions("daily")))
        {
            folder = server.Folder;
            for (var i = 0; i < 5; i++) keys.Add(await server.IssueAsync(new KeyLimits(BudgetTokens: 1000)));
            var issued = await server.Keys.IssueAsync(new KeySpec("to rotate", null, [], [], KeyLimits.None), "t");
            keys.Add(issued.Key);
            keys.Add((await server.Keys.RotateAsync(issued.Record.Id, TimeSpan.FromHours(1), "t")).Key);
            keys.Add((await server.Keys.CurrentPublicKeyAsync())!.Key);
            keys.Add(server.Admin);
            foreach (var key in keys)
            {
                using var client = server.Client(key);
                await client.PostAsync("v1/chat/completions", TestServer.Chat());
            }
            Assert.Equal(9, keys.Count(k => k.Length > 30));
            var bytes = AllDatabaseBytes(folder);
            Assert.True(bytes.AsSpan().IndexOf("to rotate"u8) >= 0, "the grep must see what was written (a label is stored as text)");
            foreach (var key in keys)
            {
                Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(key)));
                Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(key[^20..])));  // nor its random part
            }
        }
    }

    /// <summary>The database, its write-ahead log and shared memory, as bytes.</summary>
    static byte[] AllDatabaseBytes(string folder) =>
        Directory.GetFiles(folder, "access.db*").SelectMany(f =>
        {
            using var stream = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            return memory.ToArray();
        }).ToArray();
}
