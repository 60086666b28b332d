using FewShot.Benchmarks;

namespace FewShot.Serving.Tests;

/// <summary>Timing tests run alone, not next to the browser or other servers.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "timing";
}

/// <summary>The serving benchmark's claims on a small model: batching multiplies throughput, cancelled rows leave within a step.</summary>
[Collection(TimingCollection.Name)]
public sealed class ServeBenchmarkTests
{
    [Fact]
    public async Task EightStreamingClientsGetAtLeastThreeTimesOneClientsThroughputAndDisconnectsFreeTheirRowWithinOneStep()
    {
        var result = await ServeBenchmark.RunAsync(TinyModel.BenchFolder, new ServeBenchmarkOptions
        {
            Clients = 8, RequestsPerClient = 2, MaxTokens = 32, MemoryRequests = 0, Disconnects = 2, Threads = 1,
        });
        // Batching itself, independent of how loaded the shared test machine is: 8 clients share each decoding step.
        // (The wall-clock ratio, 9x on an idle machine, is what `fewshot bench serve` reports; see docs/serving.md.)
        Assert.True(result.TokensPerStep >= 3, $"8 clients got {result.TokensPerStep:F1} tokens per decoding step " +
            $"({result.ConcurrentTokensPerSecond:F0} tokens/s vs {result.SingleClientTokensPerSecond:F0} for one client)");
        Assert.InRange(result.CancelMaxSteps, 0, 1);
        Assert.True(result.TtftP99Ms >= result.TtftP50Ms && result.TtftP50Ms > 0);
    }
}
