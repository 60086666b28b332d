using System.Net;
using System.Text;

namespace FewShot.Serving.Tests;

/// <summary>/metrics, /healthz, request ids and the page's assets.</summary>
[Collection(ServerCollection.Name)]
public sealed class ObservabilityTests(ServerFixture fixture)
{
    TestServer Server => fixture.Server;

    [Fact]
    public async Task MetricsCountRequestsTokensAndLatencies()
    {
        var json = """{"model": "tiny-bytes", "prompt": "abc", "max_tokens": 4, "stream": true}""";
        var response = await Server.Http.PostAsync("v1/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        var sse = await response.Content.ReadAsStringAsync();
        Assert.EndsWith("data: [DONE]\n\n", sse);
        Assert.StartsWith("data: {", sse);

        var metrics = await Server.Http.GetStringAsync("metrics");
        Assert.Matches("fewshot_http_requests_total\\{route=\"/v1/completions\",status=\"200\"\\} [1-9]", metrics);
        Assert.Matches("fewshot_prompt_tokens_total [1-9]", metrics);
        Assert.Matches("fewshot_completion_tokens_total [1-9]", metrics);
        foreach (var name in new[] { "fewshot_queue_depth", "fewshot_batch_size_bucket", "fewshot_time_to_first_token_seconds_count", "fewshot_token_latency_seconds_sum" })
            Assert.Contains(name, metrics);
    }

    [Fact]
    public async Task HealthzReportsTheModelAndRequestIdsAreEchoed()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "healthz");
        request.Headers.Add("X-Request-Id", "abc-123");
        var response = await Server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"model\":\"tiny-bytes\"", await response.Content.ReadAsStringAsync());
        Assert.Equal("abc-123", response.Headers.GetValues("X-Request-Id").Single());
        var fresh = await Server.Http.GetAsync("healthz");
        Assert.StartsWith("req_", fresh.Headers.GetValues("X-Request-Id").Single());
    }

    [Fact]
    public async Task ThePageAndItsAssetsAreServedByTheAppWithNoExternalUrls()
    {
        var html = await Server.Http.GetStringAsync("");
        Assert.Contains("<script src=\"/assets/app.js\"", html);
        foreach (var asset in new[] { "app.js", "markdown.js", "i18n.js", "style.css" })
        {
            var text = await Server.Http.GetStringAsync("assets/" + asset);
            Assert.DoesNotMatch("(src|href)=[\"']https?:", text);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await Server.Http.GetAsync("assets/secrets.txt")).StatusCode);
        var modes = await Server.Http.GetStringAsync("page/modes");
        Assert.StartsWith("[{\"id\":\"chat\"", modes);
    }
}
