using FewShot.Serving.Api;
using System.Net;
using System.Text;
using System.Text.Json;
using FewShot.Serving.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace FewShot.Serving.Tests;

/// <summary>Every generation request passes the access-control gate after tokenizing and before queueing.</summary>
public sealed class GateTests
{
    sealed class RecordingGate : IGenerationGate
    {
        public List<GenerationRequestInfo> Seen { get; } = [];
        public List<(int Prompt, int Completion)> Charged { get; } = [];
        public int Disposed;

        public ValueTask<GateDecision> AdmitAsync(HttpContext http, GenerationRequestInfo request, CancellationToken cancel)
        {
            lock (Seen) Seen.Add(request);
            if (http.Request.Headers.Authorization == "Bearer bad")
                return ValueTask.FromResult<GateDecision>(new GateDecision.Rejected(new ApiException(429, "requests", "Slow down.", null, "rate_limit_exceeded",
                    new Dictionary<string, string> { ["Retry-After"] = "7", ["x-ratelimit-reset-requests"] = "7s" })));
            return ValueTask.FromResult<GateDecision>(new GateDecision.Admitted(new Lease(this)));
        }

        sealed class Lease(RecordingGate gate) : IGenerationLease
        {
            public void Charge(int promptTokens, int completionTokens) { lock (gate.Charged) gate.Charged.Add((promptTokens, completionTokens)); }
            public ValueTask DisposeAsync() { Interlocked.Increment(ref gate.Disposed); return ValueTask.CompletedTask; }
        }
    }

    [Fact]
    public async Task AdmittedRequestsAreChargedWithTheirUsageAndRejectedOnesGetTheGatesStatusAndHeaders()
    {
        var gate = new RecordingGate();
        await using var server = await TestServer.StartAsync(services: s => s.AddSingleton<IGenerationGate>(gate));

        var json = """{"model": "tiny-bytes", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "n": 2, "mode": "encyclopedia"}""";
        var ok = await server.Http.PostAsync("v1/chat/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using var body = JsonDocument.Parse(await ok.Content.ReadAsStringAsync());
        var usage = body.RootElement.GetProperty("usage");
        var info = Assert.Single(gate.Seen);
        Assert.Equal(("tiny-bytes", "encyclopedia", 5, 2), (info.Model, info.Mode, info.MaxTokens, info.Choices));
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), info.PromptTokens);
        Assert.Equal((usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32()), Assert.Single(gate.Charged));
        Assert.Equal(1, gate.Disposed);

        var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent("""{"model": "tiny-bytes", "prompt": "x"}""", Encoding.UTF8, "application/json") };
        request.Headers.Add("Authorization", "Bearer bad");
        var rejected = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.TooManyRequests, rejected.StatusCode);
        Assert.Equal("7", rejected.Headers.GetValues("Retry-After").Single());
        Assert.Equal("7s", rejected.Headers.GetValues("x-ratelimit-reset-requests").Single());
        using var error = JsonDocument.Parse(await rejected.Content.ReadAsStringAsync());
        Assert.Equal("rate_limit_exceeded", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Single(gate.Charged); // nothing queued, nothing charged
    }

    [Fact]
    public async Task OpenGateIsTheDefault()
    {
        await using var server = await TestServer.StartAsync();
        Assert.IsType<OpenGate>(server.Get<IGenerationGate>());
    }
}
