using System.ClientModel;
using System.ClientModel.Primitives;
using FewShot.Access.Keys;
using OpenAI;
using OpenAI.Chat;

namespace FewShot.Access.Tests;

/// <summary>What a client using the official OpenAI .NET SDK sees for each refusal.</summary>
public class OpenAiSdkTests
{
    static ChatClient Client(TestServer server, string key) => new("fewshot", new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = new Uri(server.Server.BaseAddress, "v1"),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),  // the SDK would otherwise wait out Retry-After and retry 429s
    });

    static async Task<ClientResultException> FailsAsync(ChatClient client, int maxTokens = 16)
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = maxTokens };
        return await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("hello there")], options));
    }

    [Fact]
    public async Task EachRefusalSurfacesWithItsStatusAndCode()
    {
        var time = new ManualTime(new DateTimeOffset(2026, 3, 2, 23, 30, 0, TimeSpan.Zero));
        await using var server = await TestServer.StartAsync(o =>
        {
            o.Time = time;
            o.LockoutThreshold = 3;
            o.PublicKey = new PublicKeyOptions("daily", TimeSpan.FromMinutes(10));
        });

        var yesterday = (await server.Keys.CurrentPublicKeyAsync())!.Key;
        time.Advance(TimeSpan.FromMinutes(45));  // 00:15, past the 10 minutes of grace

        var ok = await Client(server, await server.IssueAsync()).CompleteChatAsync([new UserChatMessage("hello there")]);
        Assert.Equal(2, ok.Value.Usage.InputTokenCount);

        var invalid = await FailsAsync(Client(server, KeyFormat.Generate(KeyKind.Personal)));
        Assert.Equal(401, invalid.Status);
        Assert.Contains("invalid_api_key", invalid.Message);

        var quota = await FailsAsync(Client(server, await server.IssueAsync(new KeyLimits(BudgetTokens: 10))));
        Assert.Equal(429, quota.Status);
        Assert.Contains("insufficient_quota", quota.Message);

        var limitedKey = Client(server, await server.IssueAsync(new KeyLimits(RequestsPerMinute: 1)));
        await limitedKey.CompleteChatAsync([new UserChatMessage("hello there")]);
        var limited = await FailsAsync(limitedKey);
        Assert.Equal(429, limited.Status);
        Assert.Contains("rate_limit_exceeded", limited.Message);
        Assert.True(limited.GetRawResponse()!.Headers.TryGetValue("Retry-After", out _));

        var rotated = await FailsAsync(Client(server, yesterday));
        Assert.Equal(401, rotated.Status);
        Assert.Contains("rotated", rotated.Message);

        // Three failures from this address (invalid, rotated, and one more) lock it out.
        await FailsAsync(Client(server, KeyFormat.Generate(KeyKind.Personal)));
        var locked = await FailsAsync(Client(server, (await server.Keys.CurrentPublicKeyAsync())!.Key));
        Assert.Equal(403, locked.Status);
        Assert.Contains("ip_locked_out", locked.Message);
    }
}
