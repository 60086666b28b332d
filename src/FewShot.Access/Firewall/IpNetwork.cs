using System.Net;
using System.Net.Sockets;

namespace FewShot.Access.Firewall;

/// <summary>An address range in CIDR form ("10.0.0.0/8", "2001:db8::/32", or a single address). IPv4-mapped IPv6 counts as IPv4.</summary>
public sealed class IpNetwork
{
    readonly byte[] prefix;
    readonly int bits;
    readonly string text;

    IpNetwork(byte[] prefix, int bits, string text) { this.prefix = prefix; this.bits = bits; this.text = text; }

    public static IpNetwork Parse(string cidr)
    {
        var parts = cidr.Trim().Split('/');
        if (parts.Length > 2 || !IPAddress.TryParse(parts[0], out var address))
            throw new FormatException($"'{cidr}' is not an address or a CIDR range such as 10.0.0.0/8");
        var bytes = Normalize(address).GetAddressBytes();
        var bits = bytes.Length * 8;
        if (parts.Length == 2 && (!int.TryParse(parts[1], out bits) || bits < 0 || bits > bytes.Length * 8))
            throw new FormatException($"'{cidr}': prefix length must be 0..{bytes.Length * 8}");
        return new IpNetwork(bytes, bits, cidr.Trim());
    }

    public static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    public bool Contains(IPAddress address)
    {
        var bytes = Normalize(address).GetAddressBytes();
        if (bytes.Length != prefix.Length) return false;
        var whole = bits / 8;
        for (var i = 0; i < whole; i++) if (bytes[i] != prefix[i]) return false;
        var rest = bits % 8;
        if (rest == 0) return true;
        var mask = (byte)(0xFF << (8 - rest));
        return (bytes[whole] & mask) == (prefix[whole] & mask);
    }

    public override string ToString() => text;
}

/// <summary>A list of networks; empty contains nothing.</summary>
public sealed class IpNetworkList(IEnumerable<string> cidrs)
{
    readonly IpNetwork[] networks = cidrs.Select(IpNetwork.Parse).ToArray();
    public bool IsEmpty => networks.Length == 0;
    public bool Contains(IPAddress address) => networks.Any(n => n.Contains(address));
}

/// <summary>
/// The client's address. X-Forwarded-For is believed only when the connection comes from a trusted proxy; then the list is
/// read from the right (the proxy nearest us appended last), skipping trusted proxies, and the first other address is
/// the client. From anyone else the header is ignored: otherwise a client could name any address and escape per-IP limits.
/// </summary>
public static class ClientAddress
{
    public static IPAddress Resolve(IPAddress? remote, string? forwardedFor, IpNetworkList trustedProxies)
    {
        var address = remote is null ? IPAddress.IPv6None : IpNetwork.Normalize(remote);
        if (string.IsNullOrEmpty(forwardedFor) || trustedProxies.IsEmpty || !trustedProxies.Contains(address)) return address;
        var hops = forwardedFor.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        for (var i = hops.Length - 1; i >= 0; i--)
        {
            if (!IPAddress.TryParse(hops[i], out var hop)) return address;  // garbage: trust only what we saw ourselves
            hop = IpNetwork.Normalize(hop);
            if (!trustedProxies.Contains(hop) || i == 0) return hop;
        }
        return address;
    }

    public static bool IsSocketAddress(IPAddress address) => address.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6;
}
