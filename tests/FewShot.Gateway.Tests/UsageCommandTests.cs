using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace FewShot.Gateway.Tests;

/// <summary>`fewshot usage --by upstream|model|key` reads what the gateway charged.</summary>
[Collection(UpstreamCollection.Name)]
public sealed class UsageCommandTests(UpstreamFixture fixture)
{
    [Fact]
    public async Task UsageShowsSpendPerUpstreamModelAndKey()
    {
        await using var gateway = await GatewayServer.StartAsync(Requests.Merge(Requests.Upstream("priced", fixture.Upstream.ApiUrl, model: "paid"),
            new() { ["Serving:Upstreams:priced:Models:0:PromptPrice"] = "1", ["Serving:Upstreams:priced:Models:0:CompletionPrice"] = "2" }));
        using var client = gateway.Client(await gateway.IssueAsync());
        for (var i = 0; i < 2; i++)
        {
            using var response = await client.PostAsync("v1/completions", Requests.Completion("paid", maxTokens: 4));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var ledger = (await Requests.LedgerAsync(gateway))["priced"];

        foreach (var (by, name) in new[] { ("upstream", "priced"), ("model", "paid") })
        {
            var json = await UsageAsync(gateway.DatabasePath, "--by", by);
            var row = json.GetProperty("data").EnumerateArray().Single(r => r.GetProperty(by).GetString() == name);
            Assert.Equal(2, row.GetProperty("requests").GetInt64());
            Assert.Equal(ledger.CostMicros / 1_000_000m, row.GetProperty("cost_usd").GetDecimal());
            Assert.Equal(ledger.PromptTokens + ledger.CompletionTokens, row.GetProperty("total_tokens").GetInt64());
        }
        Assert.Single((await UsageAsync(gateway.DatabasePath, "--by", "key")).GetProperty("data").EnumerateArray());
    }

    static Task<JsonElement> UsageAsync(string database, params string[] args) => RunJsonAsync(["usage", "--db", database, "--json", .. args]);

    /// <summary>A fewshot command in its own process that must succeed; the one JSON object it printed.</summary>
    internal static async Task<JsonElement> RunJsonAsync(string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "fewshot.dll") }.Concat(args))
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(process.ExitCode == 0, await stderr);
        return JsonDocument.Parse(await stdout).RootElement;
    }
}
