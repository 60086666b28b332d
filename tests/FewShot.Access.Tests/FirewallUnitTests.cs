using System.Net;
using FewShot.Access.Firewall;

namespace FewShot.Access.Tests;

public class FirewallUnitTests
{
    static readonly IpNetworkList Proxies = new(["10.0.0.1/32", "10.0.0.2"]);

    [Theory]
    [InlineData("10.0.0.0/8", "10.200.3.4", true)]
    [InlineData("10.0.0.0/8", "11.0.0.1", false)]
    [InlineData("192.168.1.0/25", "192.168.1.127", true)]
    [InlineData("192.168.1.0/25", "192.168.1.128", false)]
    [InlineData("2001:db8::/32", "2001:db8:1::5", true)]
    [InlineData("2001:db8::/32", "2001:db9::5", false)]
    [InlineData("127.0.0.1/32", "::ffff:127.0.0.1", true)]
    [InlineData("0.0.0.0/0", "8.8.8.8", true)]
    public void CidrRangesContainWhatTheyShould(string cidr, string address, bool inside) =>
        Assert.Equal(inside, IpNetwork.Parse(cidr).Contains(IPAddress.Parse(address)));

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("not an address")]
    [InlineData("10.0.0.0/8/8")]
    public void BadCidrIsAFormatError(string cidr) => Assert.Throws<FormatException>(() => IpNetwork.Parse(cidr));

    [Fact]
    public void ForwardedForFromAnUntrustedPeerIsIgnored() =>
        Assert.Equal(IPAddress.Parse("203.0.113.9"), ClientAddress.Resolve(IPAddress.Parse("203.0.113.9"), "1.2.3.4", Proxies));

    [Fact]
    public void ForwardedForThroughTrustedProxiesIsReadFromTheRight()
    {
        // The client put a fake hop first; our proxies appended the real client, then each other.
        Assert.Equal(IPAddress.Parse("198.51.100.7"), ClientAddress.Resolve(IPAddress.Parse("10.0.0.1"), "6.6.6.6, 198.51.100.7, 10.0.0.2", Proxies));
        Assert.Equal(IPAddress.Parse("10.0.0.1"), ClientAddress.Resolve(IPAddress.Parse("10.0.0.1"), "garbage", Proxies));
    }

    [Fact]
    public void LockoutsEngageAtTheThresholdAndEscalate()
    {
        var time = new ManualTime(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        var lockouts = new Lockouts(3, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1), 4, TimeSpan.FromHours(1), time);
        Assert.Null(lockouts.RecordFailure("a"));
        Assert.Null(lockouts.RecordFailure("a"));
        var first = lockouts.RecordFailure("a");
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromMinutes(1), first);
        Assert.True(lockouts.IsLocked("a", out _));
        Assert.False(lockouts.IsLocked("b", out _));

        time.Advance(TimeSpan.FromMinutes(1.5));
        Assert.False(lockouts.IsLocked("a", out _));
        lockouts.RecordFailure("a");
        lockouts.RecordFailure("a");
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromMinutes(4), lockouts.RecordFailure("a"));

        time.Advance(TimeSpan.FromMinutes(5));
        for (var i = 0; i < 2; i++) lockouts.RecordFailure("a");
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromMinutes(16), lockouts.RecordFailure("a"));
        time.Advance(TimeSpan.FromMinutes(17));
        for (var i = 0; i < 2; i++) lockouts.RecordFailure("a");
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromHours(1), lockouts.RecordFailure("a"));  // capped
    }
}
