using System.Net;
using FewShot.Access.Keys;

namespace FewShot.Access.Tests;

public class RateLimitTests
{
    [Fact]
    public async Task KeyRequestsPerMinuteGive429WithOpenAiHeaders()
    {
        await using var server = await TestServer.StartAsync();
        using var client = server.Client(await server.IssueAsync(new KeyLimits(RequestsPerMinute: 3, TokensPerMinute: 1000)));
        var first = await client.PostAsync("v1/chat/completions", TestServer.Chat());
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("3", first.Headers.GetValues("x-ratelimit-limit-requests").Single());
        Assert.Equal("2", first.Headers.GetValues("x-ratelimit-remaining-requests").Single());
        Assert.Equal("1000", first.Headers.GetValues("x-ratelimit-limit-tokens").Single());
        Assert.Equal("982", first.Headers.GetValues("x-ratelimit-remaining-tokens").Single());
        Assert.EndsWith("s", first.Headers.GetValues("x-ratelimit-reset-requests").Single());
        await client.PostAsync("v1/chat/completions", TestServer.Chat());
        await client.PostAsync("v1/chat/completions", TestServer.Chat());
        var limited = await client.PostAsync("v1/chat/completions", TestServer.Chat());
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        Assert.Equal("rate_limit_exceeded", (await TestServer.ErrorAsync(limited))["code"]!.GetValue<string>());
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal("0", limited.Headers.GetValues("x-ratelimit-remaining-requests").Single());
        Assert.Equal(3 * 18, await server.ChargedAsync());
    }

    [Fact]
    public async Task KeyTokensPerMinuteCountTheWorstCase()
    {
        await using var server = await TestServer.StartAsync();
        using var client = server.Client(await server.IssueAsync(new KeyLimits(TokensPerMinute: 50)));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("v1/chat/completions", TestServer.Chat(30))).StatusCode);  // 32 of 50
        var limited = await client.PostAsync("v1/chat/completions", TestServer.Chat(30));
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        Assert.Equal("rate_limit_exceeded", (await TestServer.ErrorAsync(limited))["code"]!.GetValue<string>());
        Assert.Equal("18", limited.Headers.GetValues("x-ratelimit-remaining-tokens").Single());
    }

    [Fact]
    public async Task RequestsPerMinutePerAddressApplyAcrossKeys()
    {
        await using var server = await TestServer.StartAsync(o => o.IpRequestsPerMinute = 4);
        using var a = server.Client(await server.IssueAsync(), "198.51.100.1");
        using var b = server.Client(await server.IssueAsync(), "198.51.100.1");
        using var elsewhere = server.Client(await server.IssueAsync(), "198.51.100.2");
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await a.PostAsync("v1/chat/completions", TestServer.Chat())).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await b.PostAsync("v1/chat/completions", TestServer.Chat())).StatusCode);
        }
        var limited = await a.PostAsync("v1/chat/completions", TestServer.Chat());
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        Assert.Equal("rate_limit_exceeded", (await TestServer.ErrorAsync(limited))["code"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await elsewhere.PostAsync("v1/chat/completions", TestServer.Chat())).StatusCode);
        Assert.Equal(1, server.Server.Access.Metrics.RejectionCount("ip_rate_limited"));
    }

    [Fact]
    public async Task TheGlobalConcurrencyCapRefusesWhatItCannotQueue()
    {
        // Each generation lasts long enough that all six requests arrive while the first two still run, even on a
        // busy machine (with 300 ms a slow dispatch once let a third request in after the first finished).
        await using var server = await TestServer.StartAsync(o => { o.MaxConcurrentGenerations = 2; o.ConcurrencyQueue = 0; }, TimeSpan.FromSeconds(2));
        using var client = server.Client(await server.IssueAsync());
        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => client.PostAsync("v1/chat/completions", TestServer.Chat())));
        Assert.Equal(2, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal(4, responses.Count(r => (int)r.StatusCode == 429));
        Assert.Equal(2 * 18, await server.ChargedAsync());
    }
}
