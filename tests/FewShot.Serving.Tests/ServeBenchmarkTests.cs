using FewShot.Serving.Benchmark;

namespace FewShot.Serving.Tests;

/// <summary>The serving benchmark's claims, checked on the tiny model: batching multiplies throughput, cancelled rows leave within a step.</summary>
public sealed class ServeBenchmarkTests
{
    [Fact]
    public async Task EightStreamingClientsGetAtLeastThreeTimesOneClientsThroughputAndDisconnectsFreeTheirRowWithinOneStep()
    {
        var result = await ServeBenchmark.RunAsync(TinyModel.Folder, new ServeBenchmarkOptions
        {
            Clients = 8, RequestsPerClient = 1, MaxTokens = 40, MemoryRequests = 0, Disconnects = 3, Threads = 1,
        });
        Assert.True(result.Speedup >= 3, $"8 clients: {result.ConcurrentTokensPerSecond:F0} tokens/s, 1 client: {result.SingleClientTokensPerSecond:F0} tokens/s ({result.Speedup:F1}x)");
        Assert.InRange(result.CancelMaxSteps, 0, 1);
        Assert.True(result.TtftP99Ms >= result.TtftP50Ms && result.TtftP50Ms > 0);
    }
}
