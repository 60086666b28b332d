using FewShot.Benchmarks;

namespace FewShot.Gateway.Tests;

/// <summary>`fewshot bench gateway`'s measurement, small: every field is a real number and relayed streams carry tokens.</summary>
public sealed class GatewayBenchmarkTests
{
    [Fact]
    public async Task TheBenchmarkComparesTheGatewayWithTheUpstreamInOneRun()
    {
        var result = await GatewayBenchmark.RunAsync(GatewayServer.LocalModelFolder, new GatewayBenchmarkOptions { Requests = 5, Streams = 2, StreamTokens = 8, Threads = 1 });
        Assert.True(result.DirectP50Ms > 0 && result.GatewayP50Ms > 0 && result.DirectTtftP99Ms > 0 && result.GatewayTtftP99Ms > 0, result.ToString());
        Assert.True(result.DirectTokensPerSecond > 0 && result.GatewayTokensPerSecond > 0, result.ToString());
        Assert.True(double.IsFinite(result.AddedP99Ms) && double.IsFinite(result.AddedTtftP99Ms) && result.RelayThroughputRatio > 0, result.ToString());
    }
}
