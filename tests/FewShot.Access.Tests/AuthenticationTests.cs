using System.Net;
using System.Net.Http.Headers;
using System.Text;
using FewShot.Access.Keys;

namespace FewShot.Access.Tests;

public class AuthenticationTests
{
    static async Task<(HttpStatusCode Status, string Code, string Message)> PostAsync(HttpClient client, HttpContent? content = null)
    {
        using var response = await client.PostAsync("v1/chat/completions", content ?? TestServer.Chat());
        if (response.IsSuccessStatusCode) return (response.StatusCode, "", "");
        var error = await TestServer.ErrorAsync(response);
        return (response.StatusCode, error["code"]!.GetValue<string>(), error["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task AValidKeyGetsACompletionAndIsCharged()
    {
        await using var server = await TestServer.StartAsync();
        using var client = server.Client(await server.IssueAsync());
        var (status, _, _) = await PostAsync(client);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(2 + 16, await server.ChargedAsync());
    }

    [Fact]
    public async Task BadCredentialsGet401InvalidApiKeyAndNothingIsCharged()
    {
        await using var server = await TestServer.StartAsync();
        var good = await server.IssueAsync();
        var mutated = good[..10] + (good[10] == 'a' ? 'b' : 'a') + good[11..];
        var cases = new (string What, Action<HttpRequestHeaders> Header, string Expect)[]
        {
            ("missing", _ => { }, "Missing API key"),
            ("not bearer", h => h.TryAddWithoutValidation("Authorization", "Basic " + good), "Malformed"),
            ("not a key", h => h.Authorization = new AuthenticationHeaderValue("Bearer", "sk-hello"), "Malformed"),
            ("truncated", h => h.Authorization = new AuthenticationHeaderValue("Bearer", good[..^2]), "Malformed"),
            ("typo", h => h.Authorization = new AuthenticationHeaderValue("Bearer", mutated), "checksum"),
            ("unknown", h => h.Authorization = new AuthenticationHeaderValue("Bearer", KeyFormat.Generate(KeyKind.Personal)), "no such key"),
            ("admin key on /v1", h => h.Authorization = new AuthenticationHeaderValue("Bearer", server.Admin), "no such key"),
        };
        foreach (var (what, header, expect) in cases)
        {
            using var client = server.Client(forwardedFor: null);
            header(client.DefaultRequestHeaders);
            var (status, code, message) = await PostAsync(client);
            Assert.True(status == HttpStatusCode.Unauthorized, $"{what}: {status}");
            Assert.Equal("invalid_api_key", code);
            Assert.Contains(expect, message);
        }
        Assert.Equal(0, server.Server.TokensGenerated);
        Assert.Equal(0, await server.ChargedAsync());
        var metrics = new StringBuilder();
        server.Server.Access.Metrics.WritePrometheus(metrics);
        Assert.Contains("fewshot_access_rejections_total{reason=\"bad_checksum\"} 1", metrics.ToString());
        Assert.Contains("fewshot_access_rejections_total{reason=\"unknown_key\"} 2", metrics.ToString());
        Assert.Contains("fewshot_access_rejections_total{reason=\"malformed_key\"} 3", metrics.ToString());
        Assert.Contains("fewshot_access_rejections_total{reason=\"missing_key\"} 1", metrics.ToString());
    }

    [Fact]
    public async Task ExpiredKeysFailWithAnAuditEntry()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(o => o.Time = time);
        var key = await server.IssueAsync(expires: time.GetUtcNow().AddHours(1));
        using var client = server.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(client)).Status);
        time.Advance(TimeSpan.FromHours(2));
        var (status, code, message) = await PostAsync(client);
        Assert.Equal((HttpStatusCode.Unauthorized, "invalid_api_key"), (status, code));
        Assert.Contains("expired", message);
        var audit = await server.Server.Access.Store.ReadAuditAsync(DateTimeOffset.UnixEpoch, 100);
        Assert.Contains(audit, a => a.Event == "expired_key" && a.ClientIp == "127.0.0.1");
    }

    [Fact]
    public async Task ARevokedKeyFailsOnTheNextRequest()
    {
        await using var server = await TestServer.StartAsync();
        var issued = await server.Keys.IssueAsync(new KeySpec("r", null, [], [], KeyLimits.None), "test");
        using var client = server.Client(issued.Key);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(client)).Status);
        using var admin = server.Client(server.Admin);
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync($"admin/keys/{issued.Record.Id}/revoke", null)).StatusCode);
        var (status, code, message) = await PostAsync(client);
        Assert.Equal((HttpStatusCode.Unauthorized, "invalid_api_key"), (status, code));
        Assert.Contains("revoked", message);
        var audit = await server.Server.Access.Store.ReadAuditAsync(DateTimeOffset.UnixEpoch, 100);
        Assert.Contains(audit, a => a.Event == "key_revoked" && a.KeyId == issued.Record.Id);
        Assert.Contains(audit, a => a.Event == "revoked_key" && a.KeyId == issued.Record.Id);
    }

    [Fact]
    public async Task ARotatedPersonalKeyWorksDuringItsGraceThenSaysItRotated()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(o => o.Time = time);
        var issued = await server.Keys.IssueAsync(new KeySpec("r", null, [], [], KeyLimits.None), "test");
        var rotated = await server.Keys.RotateAsync(issued.Record.Id, TimeSpan.FromMinutes(10), "test");
        using var old = server.Client(issued.Key);
        using var fresh = server.Client(rotated.Key);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(old)).Status);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(fresh)).Status);
        time.Advance(TimeSpan.FromMinutes(11));
        var (status, code, message) = await PostAsync(old);
        Assert.Equal((HttpStatusCode.Unauthorized, "invalid_api_key"), (status, code));
        Assert.Contains("rotated", message);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(fresh)).Status);
    }

    [Fact]
    public async Task DisallowedModelModeAndOversizedRequestsAreRefusedWithoutCharge()
    {
        await using var server = await TestServer.StartAsync();
        using var client = server.Client(await server.IssueAsync(new KeyLimits(MaxTokens: 32, MaxPromptTokens: 5), models: ["fewshot"], modes: ["chat"]));
        Assert.Equal((HttpStatusCode.Forbidden, "model_not_allowed"), Pick(await PostAsync(client, TestServer.Chat(model: "gpt-4"))));
        Assert.Equal((HttpStatusCode.Forbidden, "mode_not_allowed"), Pick(await PostAsync(client, TestServer.Chat(mode: "code"))));
        Assert.Equal((HttpStatusCode.BadRequest, "max_tokens_exceeded"), Pick(await PostAsync(client, TestServer.Chat(maxTokens: 33))));
        Assert.Equal((HttpStatusCode.BadRequest, "prompt_too_long"), Pick(await PostAsync(client, TestServer.Chat(prompt: "one two three four five six"))));
        Assert.Equal(0, await server.ChargedAsync());
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(client, TestServer.Chat(maxTokens: 32, mode: "chat"))).Status);
        Assert.Equal(1, server.Server.Access.Metrics.RejectionCount("model_not_allowed"));
    }

    static (HttpStatusCode, string) Pick((HttpStatusCode Status, string Code, string Message) r) => (r.Status, r.Code);

    [Fact]
    public async Task OpenPathsNeedNoKeyAndOversizedBodiesGet413()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxRequestBodyBytes = 1000);
        using var anonymous = server.Client();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("healthz")).StatusCode);
        using var client = server.Client(await server.IssueAsync());
        using var big = new StringContent(new string('x', 5000), Encoding.UTF8, "application/json");
        var response = await client.PostAsync("v1/chat/completions", big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("request_too_large", (await TestServer.ErrorAsync(response))["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task RepeatedFailuresLockTheAddressOutEvenForAValidKey()
    {
        await using var server = await TestServer.StartAsync(o => o.LockoutThreshold = 5);
        var good = await server.IssueAsync();
        using var attacker = server.Client(KeyFormat.Generate(KeyKind.Personal), "203.0.113.5");
        for (var i = 0; i < 5; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(attacker)).Status);
        var (status, code, _) = await PostAsync(attacker);
        Assert.Equal((HttpStatusCode.Forbidden, "ip_locked_out"), (status, code));
        using var sameAddressGoodKey = server.Client(good, "203.0.113.5");
        var locked = await sameAddressGoodKey.PostAsync("v1/chat/completions", TestServer.Chat());
        Assert.Equal(HttpStatusCode.Forbidden, locked.StatusCode);
        Assert.True(locked.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        using var other = server.Client(good, "198.51.100.1");
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(other)).Status);
        var audit = await server.Server.Access.Store.ReadAuditAsync(DateTimeOffset.UnixEpoch, 100);
        Assert.Contains(audit, a => a.Event == "ip_locked_out" && a.ClientIp == "203.0.113.5");
    }

    [Fact]
    public async Task ASpoofedForwardedForFromAnUntrustedAddressDoesNotChangeTheClient()
    {
        // Loopback is not a trusted proxy here, so X-Forwarded-For must be ignored both ways.
        await using var server = await TestServer.StartAsync(o =>
        {
            o.TrustedProxies = [];
            o.DeniedNetworks = ["203.0.113.0/24"];
            o.LockoutThreshold = 3;
        });
        var key = await server.IssueAsync();
        using var pretendsDenied = server.Client(key, "203.0.113.5");
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(pretendsDenied)).Status);

        using var guesser = server.Client(KeyFormat.Generate(KeyKind.Personal), "198.51.100.1");
        for (var i = 0; i < 3; i++) await PostAsync(guesser);
        // Locked out as 127.0.0.1; naming another address does not escape it.
        using var escape = server.Client(key, "198.51.100.99");
        Assert.Equal((HttpStatusCode.Forbidden, "ip_locked_out"), Pick(await PostAsync(escape)));
    }

    [Fact]
    public async Task DeniedAndNotAllowedNetworksGet403()
    {
        await using var server = await TestServer.StartAsync(o => { o.AllowedNetworks = ["198.51.100.0/24"]; o.DeniedNetworks = ["198.51.100.66/32"]; });
        var key = await server.IssueAsync();
        using var allowed = server.Client(key, "198.51.100.7");
        using var denied = server.Client(key, "198.51.100.66");
        using var outside = server.Client(key, "192.0.2.1");
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(allowed)).Status);
        Assert.Equal((HttpStatusCode.Forbidden, "ip_denied"), Pick(await PostAsync(denied)));
        Assert.Equal((HttpStatusCode.Forbidden, "ip_denied"), Pick(await PostAsync(outside)));
    }
}
