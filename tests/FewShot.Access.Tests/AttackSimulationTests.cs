using FewShot.Benchmarks;
using Xunit.Abstractions;

namespace FewShot.Access.Tests;

/// <summary>Latency measurements run alone: on two cores, other tests running beside them would be the noise they measure.</summary>
[CollectionDefinition(nameof(Timing), DisableParallelization = true)]
public sealed class Timing;

/// <summary>The must-show numbers of docs/security.md, measured on the simulated server (real Kestrel, loopback).</summary>
[Collection(nameof(Timing))]
public class AttackSimulationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AFloodOfRandomKeysIsLockedOutAndGeneratesNothing()
    {
        var flood = await FirewallBenchmark.FloodAsync(attackRequests: 10_000, attackConcurrency: 8);
        output.WriteLine(flood.ToString());
        Assert.Equal(10_000, flood.Unauthorized + flood.LockedOut + flood.OtherStatus);
        Assert.Equal(0, flood.OtherStatus);
        // The server locks out at exactly the threshold (FirewallUnitTests). Seen from the client, up to concurrency - 1
        // requests that were already past the lockout check when it started may still answer 401 before the first 403.
        Assert.True(flood.FailuresBeforeLockout <= flood.Threshold + 7, $"lockout after {flood.FailuresBeforeLockout} failures");
        Assert.True(flood.Unauthorized <= flood.Threshold + 8, $"{flood.Unauthorized} got past to key checks");
        Assert.Equal(0, flood.AttackTokensGenerated);
        Assert.Equal(0, flood.LegitimateFailures);
        // The legitimate client's latency during the flood is a speed goal: `fewshot bench firewall` measures it.
    }

}
