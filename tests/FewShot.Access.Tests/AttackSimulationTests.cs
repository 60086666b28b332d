using FewShot.Access.Bench;
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
        // Requests already in flight when the lockout starts (at most the attack's concurrency) may still get their 401.
        Assert.True(flood.FailuresBeforeLockout <= flood.Threshold, $"lockout after {flood.FailuresBeforeLockout} failures");
        Assert.True(flood.Unauthorized <= flood.Threshold + 8, $"{flood.Unauthorized} got past to key checks");
        Assert.Equal(0, flood.AttackTokensGenerated);
        Assert.Equal(0, flood.LegitimateFailures);
        // The legitimate client's latency during the flood is a speed goal: `fewshot bench firewall` measures it.
    }

}
