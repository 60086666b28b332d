using FewShot.Access.Tests.Servers;
using FewShot.Benchmarks;

namespace FewShot.Access.Tests.SeveralInstances;

/// <summary>`fewshot bench firewall --store postgres://... --limits redis://...`, small: it measures what it says and refuses nothing.</summary>
public sealed class SharedBenchmarkTests(PostgresServer postgres, RedisServer redis) : IClassFixture<PostgresServer>, IClassFixture<RedisServer>
{
    [Fact]
    public async Task TheSharedBenchmarkMeasuresAdmissionOverheadAndAdmissionsPerSecondOverThreeInstances()
    {
        var report = await SharedFirewallBenchmark.RunAsync(await postgres.NewDatabaseAsync(), $"{redis.Url}/13", overheadRequests: 100,
            duration: TimeSpan.FromSeconds(1), concurrency: 8);
        Assert.Equal(100, report.Overhead.ServerGated.Count);
        Assert.Equal(100, report.Overhead.ServerUngated.Count);
        Assert.True(report.Overhead.ServerGated.P50 > report.Overhead.ServerUngated.P50, "the checks cost something");
        Assert.Equal(3, report.Instances);
        Assert.True(report.Admitted > 0);
        Assert.Equal(0, report.Refused);
        Assert.InRange(report.AdmissionsPerSecond, 1, 1_000_000);
        Assert.Equal(2, report.Checks().Count());
    }
}
