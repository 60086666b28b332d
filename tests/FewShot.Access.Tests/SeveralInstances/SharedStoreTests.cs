using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using FewShot.Access.Tests.Servers;

namespace FewShot.Access.Tests.SeveralInstances;

/// <summary>
/// Three servers (real Kestrel on loopback ports, each with its own access runtime) on one private PostgreSQL, as
/// behind a load balancer: what is done to a key on one counts on the others, and the ledger holds every instance's rows.
/// </summary>
public sealed class SharedStoreTests(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    async Task<TestServer[]> StartThreeAsync()
    {
        var store = await postgres.NewDatabaseAsync();
        var servers = new TestServer[3];
        // One after another: the first creates the schema and the admin key, the others find both.
        for (var i = 0; i < servers.Length; i++) servers[i] = await TestServer.StartAsync(o => o.Store = store);
        return servers;
    }

    static async Task DisposeAllAsync(TestServer[] servers)
    {
        foreach (var server in servers) await server.DisposeAsync();
    }

    static async Task<HttpStatusCode> ChatAsync(TestServer server, string key)
    {
        using var client = server.Client(key);
        using var response = await client.PostAsync("v1/chat/completions", TestServer.Chat(maxTokens: 4));
        return response.StatusCode;
    }

    /// <summary>How long until <paramref name="server"/> refuses <paramref name="key"/> (asked again and again), at most two seconds.</summary>
    static async Task<TimeSpan> UntilRefusedAsync(TestServer server, string key)
    {
        var clock = Stopwatch.StartNew();
        while (await ChatAsync(server, key) != HttpStatusCode.Unauthorized && clock.Elapsed < TimeSpan.FromSeconds(2)) await Task.Delay(20);
        return clock.Elapsed;
    }

    [Fact]
    public async Task AKeyIssuedRotatedOrRevokedOnOneInstanceCountsOnTheOthersWithinOneSecond()
    {
        var servers = await StartThreeAsync();
        try
        {
            var (a, b, c) = (servers[0], servers[1], servers[2]);
            Assert.NotEmpty(a.Admin);
            using var admin = a.Client(a.Admin);
            using var created = await admin.PostAsync("admin/keys", new StringContent("""{"label":"on-every-instance"}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var issued = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
            var (key, id) = (issued["key"]!.GetValue<string>(), issued["id"]!.GetValue<string>());

            // A key not seen before is read from the shared store, so the very next request on another instance already has it;
            // a key seen before is kept for a quarter of a second (KeyService.SharedStoreKeyCacheTime), so a change counts within that.
            Assert.Equal(HttpStatusCode.OK, await ChatAsync(b, key));
            Assert.Equal(HttpStatusCode.OK, await ChatAsync(c, key));

            // The admin key made on the first instance is the admin key of all of them.
            using (var adminOnC = c.Client(a.Admin))
            using (var rotated = await adminOnC.PostAsync($"admin/keys/{id}/rotate?grace_seconds=0", null))
            {
                Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
                var newKey = (await rotated.Content.ReadFromJsonAsync<JsonObject>())!["key"]!.GetValue<string>();
                Assert.True(await UntilRefusedAsync(a, key) < TimeSpan.FromSeconds(1));
                Assert.Equal(HttpStatusCode.OK, await ChatAsync(b, newKey));
                key = newKey;
            }

            using (var revoked = await admin.PostAsync($"admin/keys/{id}/revoke", null))
                Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
            var clock = Stopwatch.StartNew();
            var refusedAfter = await Task.WhenAll(UntilRefusedAsync(b, key), UntilRefusedAsync(c, key));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"refused on b after {refusedAfter[0]}, on c after {refusedAfter[1]}");
            Assert.Equal(HttpStatusCode.Unauthorized, await ChatAsync(a, key));
            // Each instance wrote its refusal to the one audit log.
            var audit = await a.Server.Access.Store.ReadAuditAsync(DateTimeOffset.UnixEpoch, 1000);
            Assert.Contains(audit, e => e.Event == "key_revoked" && e.KeyId == id);
            Assert.True(audit.Count(e => e.Event == "revoked_key" && e.KeyId == id) >= 3);
        }
        finally { await DisposeAllAsync(servers); }
    }

    [Fact]
    public async Task EveryInstanceChargesOneLedgerWithOneRowPerRequest()
    {
        var servers = await StartThreeAsync();
        try
        {
            var key = await servers[0].IssueAsync();
            var statuses = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => ChatAsync(servers[i % 3], key)));
            Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
            foreach (var server in servers) await server.Server.Access.Budgets.FlushAsync();

            var store = servers[1].Server.Access.Store;
            var rows = await store.UsageByKeyAsync(null, DateTimeOffset.UnixEpoch);
            var row = Assert.Single(rows);
            Assert.Equal(30, row.Requests);
            // TestServer.Chat's prompt is two words, and the simulated server generates max_tokens (4) tokens.
            Assert.Equal(30 * (2 + 4), await store.SumUsageAsync(null, DateTimeOffset.UnixEpoch));
        }
        finally { await DisposeAllAsync(servers); }
    }
}
