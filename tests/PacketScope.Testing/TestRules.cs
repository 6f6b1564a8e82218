// Filter rules built in code for tests and benchmarks (the REST parser builds them from JSON in the node).
using System.Net;
using PacketScope.Messages;

namespace PacketScope.Testing;

public static class TestRules
{
    public static FilterRule Rule(int id, FilterRuleSpec spec, int? priority = null) =>
        new(id, priority ?? id * 10, spec, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);

    public static FilterRuleSpec Spec(byte protocol = 0, string? src = null, string? dst = null, PortRange? dport = null,
        byte flags = 0, byte mask = 0, byte? icmpType = null, byte? icmpCode = null, byte? innerProtocol = null, PortRange? innerDport = null,
        FilterAction action = FilterAction.Drop, PortRange? sport = null, string? innerSrc = null, string? innerDst = null,
        PortRange? innerSport = null) =>
        new(FilterRuleType.Basic, protocol, Net(src), Net(dst), sport, dport, flags, mask, icmpType, icmpCode, Net(innerSrc), Net(innerDst),
            innerProtocol, innerSport, innerDport, action, true, "", null, null);

    public static PortRange Port(int port) => new(port, port);

    /// <summary>An address or CIDR prefix, masked ("10.1.2.3/24" is 10.1.2.0/24).</summary>
    public static AddressMatch? Net(string? cidr)
    {
        if (cidr is null)
            return null;
        var slash = cidr.IndexOf('/');
        var address = IPAddress.Parse(slash < 0 ? cidr : cidr[..slash]);
        var v6 = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        var length = slash < 0 ? (v6 ? 128 : 32) : int.Parse(cidr[(slash + 1)..]);
        return new AddressMatch(new IPNetwork(Mask(address, length), length).BaseAddress.ToString(), length, v6);
    }

    private static IPAddress Mask(IPAddress address, int length)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(length - 8 * i, 0, 8);
            bytes[i] &= (byte)(0xff << (8 - keep));
        }
        return new IPAddress(bytes);
    }
}
