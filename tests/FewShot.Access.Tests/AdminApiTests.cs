using FewShot.Benchmarks;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace FewShot.Access.Tests;

public class AdminApiTests
{
    static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task AdminCallsWithoutTheAdminKeyAre401AndAudited()
    {
        await using var server = await TestServer.StartAsync();
        var personal = await server.IssueAsync();
        foreach (var key in new string?[] { null, personal, "fsa-nonsense" })
        {
            using var client = server.Client(key);
            var response = await client.PostAsync("admin/keys", Json("""{"label":"x"}"""));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("invalid_api_key", (await TestServer.ErrorAsync(response))["code"]!.GetValue<string>());
        }
        Assert.Single(await server.Keys.ListAsync());  // nothing was issued
        var audit = await server.Server.Access.Store.ReadAuditAsync(DateTimeOffset.UnixEpoch, 100);
        Assert.Equal(3, audit.Count(a => a.Event == "admin_auth_failed"));
    }

    [Theory]
    [InlineData("""{"budget_tokens":-5}""", "budget_tokens")]
    [InlineData("""{"budget_tokens":0}""", "budget_tokens")]
    [InlineData("""{"budget_tokens":99999999999999999}""", "budget_tokens")]
    [InlineData("""{"rpm":-1}""", "rpm")]
    [InlineData("""{"tpm":100000000000}""", "tpm")]
    [InlineData("""{"max_tokens":0}""", "max_tokens")]
    [InlineData("""{"period":"fortnight"}""", "period")]
    [InlineData("""{"expires":"2001-01-01"}""", "expires_at")]
    [InlineData("""{"expires":"soon"}""", "expires")]
    [InlineData("""{"budget_tokens":"lots"}""", null)]
    [InlineData("""not json""", null)]
    public async Task NegativeOrAbsurdLimitsAre400NamingTheField(string body, string? param)
    {
        await using var server = await TestServer.StartAsync();
        using var admin = server.Client(server.Admin);
        var response = await admin.PostAsync("admin/keys", Json(body));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await TestServer.ErrorAsync(response);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(param, error["param"]?.GetValue<string>());
        Assert.Empty(await server.Keys.ListAsync());
        var audit = await server.Server.Access.Store.ReadAuditAsync(DateTimeOffset.UnixEpoch, 100);
        Assert.Contains(audit, a => a.Event == "admin_request_rejected");
    }

    [Fact]
    public async Task IssueListShowRotateRevokeAndUsageThroughTheApi()
    {
        await using var server = await TestServer.StartAsync();
        using var admin = server.Client(server.Admin);
        var created = await admin.PostAsync("admin/keys", Json("""{"label":"alice","budget_tokens":5000,"period":"month","rpm":60,"expires":"30d","models":["fewshot"]}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var issued = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
        var key = issued["key"]!.GetValue<string>();
        var id = issued["id"]!.GetValue<string>();
        Assert.Equal("month", issued["period"]!.GetValue<string>());

        using (var alice = server.Client(key))
            Assert.Equal(HttpStatusCode.OK, (await alice.PostAsync("v1/chat/completions", TestServer.Chat())).StatusCode);

        var list = (await admin.GetFromJsonAsync<JsonObject>("admin/keys"))!;
        Assert.Single(list["data"]!.AsArray());
        Assert.DoesNotContain(key, list.ToJsonString());
        var shown = (await admin.GetFromJsonAsync<JsonObject>($"admin/keys/{id}"))!;
        Assert.Equal("alice", shown["label"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("admin/keys/key_nope")).StatusCode);

        var usage = (await admin.GetFromJsonAsync<JsonObject>("admin/usage?since=1d"))!;
        Assert.Equal(18, usage["data"]![0]!["total_tokens"]!.GetValue<long>());

        var rotated = (await (await admin.PostAsync($"admin/keys/{id}/rotate", null)).Content.ReadFromJsonAsync<JsonObject>())!;
        var newKey = rotated["key"]!.GetValue<string>();
        Assert.NotEqual(key, newKey);
        using (var oldClient = server.Client(key))
        {
            var response = await oldClient.PostAsync("v1/chat/completions", TestServer.Chat());
            Assert.Contains("rotated", (await TestServer.ErrorAsync(response))["message"]!.GetValue<string>());
        }
        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync($"admin/keys/{id}")).StatusCode);
        using (var newClient = server.Client(newKey))
            Assert.Equal(HttpStatusCode.Unauthorized, (await newClient.PostAsync("v1/chat/completions", TestServer.Chat())).StatusCode);
        var audit = (await admin.GetFromJsonAsync<JsonObject>("admin/audit"))!.ToJsonString();
        foreach (var what in new[] { "key_issued", "key_rotated", "key_revoked" }) Assert.Contains(what, audit);
    }
}

public class AdminKeyTests
{
    [Fact]
    public async Task TheAdminKeyIsCreatedOnceAndAnOperatorKeyReplacesIt()
    {
        var folder = Directory.CreateTempSubdirectory("fewshot-admin-").FullName;
        try
        {
            var created = new List<string>();
            Action<AccessOptions> Options(string? adminKey = null) => o =>
            {
                o.DatabasePath = Path.Combine(folder, "access.db");
                o.AdminKey = adminKey;
                o.OnAdminKeyCreated = created.Add;
            };
            await using (var first = await SimulatedServer.StartAsync(Options(), TimeSpan.Zero)) { }
            await using (var second = await SimulatedServer.StartAsync(Options(), TimeSpan.Zero))
            {
                Assert.Single(created);  // printed once, on the first start only
                Assert.StartsWith("fsa-", created[0]);
                using var client = new HttpClient { BaseAddress = second.BaseAddress };
                client.DefaultRequestHeaders.Authorization = new("Bearer", created[0]);
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("admin/keys")).StatusCode);
            }
            var chosen = Keys.KeyFormat.Generate(Keys.KeyKind.Admin);
            await using (var third = await SimulatedServer.StartAsync(Options(chosen), TimeSpan.Zero))
            {
                using var old = new HttpClient { BaseAddress = third.BaseAddress };
                old.DefaultRequestHeaders.Authorization = new("Bearer", created[0]);
                Assert.Equal(HttpStatusCode.Unauthorized, (await old.GetAsync("admin/keys")).StatusCode);
                using var client = new HttpClient { BaseAddress = third.BaseAddress };
                client.DefaultRequestHeaders.Authorization = new("Bearer", chosen);
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("admin/keys")).StatusCode);
            }
            await Assert.ThrowsAsync<ArgumentException>(() => SimulatedServer.StartAsync(Options("fsa-typo"), TimeSpan.Zero));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }
}
