using System.Net;
using System.Text;
using FewShot.Access.Keys;

namespace FewShot.Gateway.Tests;

/// <summary>The upstream's key and address never leave the gateway; the client's key and headers never reach the upstream.</summary>
[Collection(UpstreamCollection.Name)]
public sealed class SecretTests(UpstreamFixture fixture)
{
    [Fact]
    public async Task TheUpstreamKeyAndAddressAreInNoResponseLogOrMetricAndTheClientsKeyIsNeverForwarded()
    {
        var secret = "sk-upstream-" + Guid.NewGuid().ToString("N");
        const string variable = "FEWSHOT_TEST_UPSTREAM_KEY";
        Environment.SetEnvironmentVariable(variable, secret);
        await using var proxy = new FaultProxy(fixture.Upstream.BaseUrl);
        await using var gateway = await GatewayServer.StartAsync(Requests.Merge(
            Requests.Upstream("vendor", proxy.BaseUrl, model: "m", extraKey: "ApiKeyEnv", extraValue: variable),
            new() { ["Serving:Upstreams:vendor:FirstByteTimeoutSeconds"] = "0.5" }));
        var clientKey = await gateway.IssueAsync(new KeyLimits(BudgetTokens: 1_000_000));
        using var client = gateway.Client(clientKey);
        client.DefaultRequestHeaders.Add("X-Private", "client-secret-header");
        client.DefaultRequestHeaders.Add("Cookie", "session=client-cookie");

        var seen = new StringBuilder();
        async Task Call(Fault fault, StringContent content, string path = "v1/chat/completions")
        {
            proxy.Set(fault);
            using var response = await client.PostAsync(path, content);
            seen.AppendLine($"{(int)response.StatusCode} {response.Headers} {response.Content.Headers}");
            seen.AppendLine(await response.Content.ReadAsStringAsync());
        }
        await Call(Fault.None, Requests.Chat("m"));
        await Call(Fault.None, Requests.Chat("m", stream: true, includeUsage: true));
        await Call(Fault.Status500, Requests.Chat("m"));
        await Call(Fault.Status429, Requests.Chat("m"));
        await Call(Fault.CutStream, Requests.Chat("m", maxTokens: 40, stream: true));
        await Call(Fault.StallBeforeFirstByte, Requests.Chat("m"));
        await Call(Fault.None, new StringContent("""{"model":"m","prompt":"x","temperature":7}""", Encoding.UTF8, "application/json"), "v1/completions");
        await Call(Fault.Refuse, Requests.Chat("m"));
        foreach (var path in new[] { "metrics", "healthz", "v1/models", "v1/models/m" }) seen.AppendLine(await client.GetStringAsync(path));
        var logs = string.Join("\n", gateway.Logs);

        var addresses = new[] { $"127.0.0.1:{proxy.Port}", proxy.BaseUrl.ToString(), fixture.Upstream.BaseUrl.Authority };
        foreach (var (what, text) in new[] { ("responses and metrics", seen.ToString()), ("logs", logs) })
        {
            Assert.DoesNotContain(secret, text);
            foreach (var address in addresses) Assert.DoesNotContain(address, text);
        }
        Assert.Contains("vendor", logs); // the failures were logged, by the upstream's name

        Assert.NotEmpty(proxy.Authorizations);
        Assert.All(proxy.Authorizations, a => Assert.Equal("Bearer " + secret, a));
        Assert.All(proxy.RequestHeads, head =>
        {
            Assert.DoesNotContain(clientKey, head);
            Assert.DoesNotContain("client-secret-header", head);
            Assert.DoesNotContain("client-cookie", head);
        });
    }

    [Fact]
    public async Task AnUpstreams4xxMessageReachesTheClientWithItsStatus()
    {
        await using var gateway = await GatewayServer.StartAsync(Requests.Upstream("u", fixture.Upstream.ApiUrl, model: "m"));
        using var client = gateway.Client(await gateway.IssueAsync());
        using var response = await client.PostAsync("v1/completions",
            new StringContent("""{"model":"m","prompt":"x","temperature":7}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("temperature", (await Requests.ObjectAsync(response))["error"]!["message"]!.GetValue<string>());
    }
}
