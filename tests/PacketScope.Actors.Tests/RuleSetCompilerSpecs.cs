// The rule classifier's tables: the corner cases the issue names, and agreement with a rule-by-rule
// reference on thousands of random rules and packets.
using System.Net;
using PacketScope.Actors.Guard;
using PacketScope.Messages;
using Xunit;

namespace PacketScope.Actors.Tests;

public sealed class RuleSetCompilerSpecs
{
    private static int s_id;

    private static FilterRule Rule(FilterRuleSpec spec, int priority) =>
        new(Interlocked.Increment(ref s_id), priority, spec, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);

    private static FilterRuleSpec Spec(byte protocol = 0, string? src = null, string? dst = null, PortRange? dport = null,
        byte flags = 0, byte mask = 0, byte? icmpType = null, byte? icmpCode = null, byte? innerProtocol = null, PortRange? innerDport = null,
        FilterAction action = FilterAction.Drop, PortRange? sport = null, string? innerSrc = null, string? innerDst = null, PortRange? innerSport = null) =>
        new(FilterRuleType.Basic, protocol, Net(src), Net(dst), sport, dport, flags, mask, icmpType, icmpCode, Net(innerSrc), Net(innerDst),
            innerProtocol, innerSport, innerDport, action, true, "", null, null);

    private static AddressMatch? Net(string? cidr)
    {
        if (cidr is null)
            return null;
        var n = IPNetwork.Parse(cidr.Contains('/') ? cidr : cidr + (cidr.Contains(':') ? "/128" : "/32"));
        return new AddressMatch(n.BaseAddress.ToString(), n.PrefixLength, n.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6);
    }

    private static PacketFields Packet(byte protocol, string src = "10.0.0.1", string dst = "10.0.0.2", ushort sport = 1000, ushort dport = 80,
        byte flags = 0, byte icmpType = 0, byte icmpCode = 0, bool inner = false, byte innerProtocol = 0, ushort innerDport = 0) =>
        new(protocol, IPAddress.Parse(src), IPAddress.Parse(dst), sport, dport, flags, icmpType, icmpCode,
            inner, inner ? IPAddress.Parse(dst) : null, inner ? IPAddress.Parse(src) : null, innerProtocol, 0, innerDport);

    [Theory]
    [InlineData(0, 65535)]
    [InlineData(23, 23)]
    [InlineData(1000, 2000)]
    [InlineData(1, 65534)]
    public void Should_cover_a_range_with_prefixes_exactly(int from, int to)
    {
        var covered = new bool[65536];
        foreach (var (value, length) in RuleSetCompiler.Prefixes(from, to, 16))
        {
            var size = 1 << (16 - length);
            Assert.Equal(0, value % size);
            for (var p = value; p < value + size; p++)
            {
                Assert.False(covered[p], $"port {p} covered twice");
                covered[p] = true;
            }
        }
        for (var p = 0; p < 65536; p++)
            Assert.Equal(p >= from && p <= to, covered[p]);
    }

    [Fact]
    public void Should_match_an_ICMP_type_0_rule_to_echo_replies_only()
    {
        var set = RuleSetCompiler.Compile([Rule(Spec(protocol: 1, icmpType: 0), 10)]);
        Assert.NotNull(set.Match(Packet(1, icmpType: 0)));
        Assert.Null(set.Match(Packet(1, icmpType: 8)));
        Assert.Null(set.Match(Packet(6, icmpType: 0))); // TCP never matches an ICMP rule
    }

    [Fact]
    public void Should_not_match_a_TCP_flags_rule_to_UDP()
    {
        var set = RuleSetCompiler.Compile([Rule(Spec(protocol: 6, flags: 2, mask: 18), 10)]);
        Assert.NotNull(set.Match(Packet(6, flags: 2)));      // SYN
        Assert.Null(set.Match(Packet(6, flags: 18)));        // SYN-ACK
        Assert.Null(set.Match(Packet(17, flags: 2)));
    }

    [Fact]
    public void Should_apply_inner_fields_only_to_ICMP_errors_that_quote_a_packet()
    {
        var set = RuleSetCompiler.Compile([Rule(Spec(protocol: 1, icmpType: 3, innerProtocol: 17, innerDport: new PortRange(53, 53)), 10)]);
        Assert.NotNull(set.Match(Packet(1, icmpType: 3, icmpCode: 3, inner: true, innerProtocol: 17, innerDport: 53)));
        Assert.Null(set.Match(Packet(1, icmpType: 3, icmpCode: 3, inner: true, innerProtocol: 17, innerDport: 54)));
        Assert.Null(set.Match(Packet(1, icmpType: 3, icmpCode: 3, inner: false)));
    }

    [Fact]
    public void Should_let_the_first_rule_in_priority_order_win()
    {
        var allow = Rule(Spec(protocol: 6, src: "10.0.0.0/24", action: FilterAction.Allow), 5);
        var drop = Rule(Spec(protocol: 6, dport: new PortRange(80, 80)), 10);
        var set = RuleSetCompiler.Compile([drop, allow]);
        Assert.Equal(allow.Id, set.Match(Packet(6, src: "10.0.0.9"))!.Id);
        Assert.Equal(drop.Id, set.Match(Packet(6, src: "10.0.1.9"))!.Id);
    }

    [Fact]
    public void Should_keep_families_apart_and_honour_prefixes()
    {
        var set = RuleSetCompiler.Compile([Rule(Spec(dst: "fd00::/64"), 10), Rule(Spec(src: "192.168.0.0/16"), 20)]);
        Assert.NotNull(set.Match(Packet(58, src: "fd00:1::1", dst: "fd00::7")));
        Assert.Null(set.Match(Packet(58, src: "fd00:1::1", dst: "fd01::7")));
        Assert.NotNull(set.Match(Packet(17, src: "192.168.3.4")));
        Assert.Null(set.Match(Packet(17, src: "192.169.3.4")));
        Assert.Null(RuleSetCompiler.Compile([]).Match(Packet(6)));
    }

    [Fact]
    public void Should_agree_with_a_rule_by_rule_reference_on_random_rules_and_packets()
    {
        var random = new Random(20261123);
        int matched = 0, unmatched = 0;
        var wide = false;
        string[] nets = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "192.168.0.0/16", "fd00::/16", "fd00:1::/32"];
        string[] addrs = ["10.1.2.3", "10.1.2.4", "10.1.9.9", "10.200.0.1", "192.168.1.1", "172.16.0.1", "fd00:1::1", "fd00:2::1", "fe80::1"];
        byte[] protos = [0, 1, 6, 17, 58];
        for (var round = 0; round < 40; round++)
        {
            var rules = new List<FilterRule>();
            var count = round < 5 ? random.Next(1, 8) : random.Next(70, 200); // several 64-bit words too
            PortRange? Range() => random.Next(2) == 0 ? null : random.Next(0, 200) is var from ? new PortRange(from + 1, from + 1 + random.Next(0, 60)) : null;
            string? Net() => random.Next(3) == 0 ? nets[random.Next(nets.Length)] : null;
            for (var i = 0; i < count; i++)
            {
                var proto = protos[random.Next(protos.Length)];
                var icmp = proto is 1 or 58;
                var ports = proto is 6 or 17;
                var type = icmp && random.Next(2) == 0 ? (byte?)random.Next(0, 12) : null;
                var mask = proto == 6 && random.Next(3) == 0 ? (byte)18 : (byte)0;
                rules.Add(Rule(Spec(
                    protocol: proto,
                    src: Net(),
                    dst: Net(),
                    sport: ports ? Range() : null,
                    dport: ports ? Range() : null,
                    flags: mask != 0 && random.Next(2) == 0 ? (byte)2 : (byte)0,
                    mask: mask,
                    icmpType: type,
                    icmpCode: type is not null && random.Next(2) == 0 ? (byte)random.Next(0, 4) : null,
                    innerProtocol: icmp && random.Next(3) == 0 ? (byte)17 : null,
                    innerDport: icmp && random.Next(4) == 0 ? Range() : null,
                    innerSport: icmp && random.Next(4) == 0 ? Range() : null,
                    innerSrc: icmp && random.Next(4) == 0 ? Net() : null,
                    innerDst: icmp && random.Next(4) == 0 ? Net() : null,
                    action: (FilterAction)random.Next(3)) with { Enabled = random.Next(8) != 0 }, random.Next(0, 50)));
            }
            var set = RuleSetCompiler.Compile(rules);
            wide |= set.Words > 1;
            var ordered = rules.Where(r => r.Spec.Enabled).OrderBy(r => r.Priority).ThenBy(r => r.Id).ToList();
            for (var k = 0; k < 300; k++)
            {
                var src = addrs[random.Next(addrs.Length)];
                var v6 = src.Contains(':');
                var dst = addrs.Where(a => a.Contains(':') == v6).ElementAt(random.Next(addrs.Count(a => a.Contains(':') == v6)));
                var proto = (byte)(v6 ? new byte[] { 6, 17, 58 }[random.Next(3)] : new byte[] { 1, 6, 17 }[random.Next(3)]);
                var inner = proto is 1 or 58 && random.Next(2) == 0;
                var p = Packet(proto, src, dst, (ushort)random.Next(0, 300), (ushort)random.Next(0, 300), (byte)random.Next(0, 32),
                    (byte)random.Next(0, 12), (byte)random.Next(0, 4), inner, (byte)(random.Next(2) == 0 ? 17 : 6), (ushort)random.Next(0, 300))
                    with { InnerSrcPort = (ushort)random.Next(0, 300) };
                var expected = ordered.FirstOrDefault(r => Matches(r.Spec, p))?.Id;
                Assert.Equal(expected, set.Match(p)?.Id);
                _ = expected is null ? unmatched++ : matched++;
            }
        }
        // Both outcomes were exercised, so the agreement means something.
        Assert.True(matched > 1000 && unmatched > 1000, $"{matched} matched, {unmatched} unmatched");
        Assert.True(wide, "no rule set spanned more than one 64-bit word");
    }

    // What a rule means, field by field: the reference the tables must agree with.
    private static bool Matches(FilterRuleSpec s, PacketFields p) =>
        (s.Protocol == 0 || s.Protocol == p.Protocol)
        && In(s.SrcIp, p.Src) && In(s.DstIp, p.Dst)
        && In(s.SrcPort, p.SrcPort) && In(s.DstPort, p.DstPort)
        && (p.TcpFlags & s.TcpFlagsMask) == s.TcpFlags
        && (s.IcmpType is null || s.IcmpType == p.IcmpType) && (s.IcmpCode is null || s.IcmpCode == p.IcmpCode)
        && (!HasInner(s) || (p.HasInner && In(s.InnerSrcIp, p.InnerSrc!) && In(s.InnerDstIp, p.InnerDst!)
            && (s.InnerProtocol is null || s.InnerProtocol == p.InnerProtocol) && In(s.InnerSrcPort, p.InnerSrcPort) && In(s.InnerDstPort, p.InnerDstPort)));

    private static bool HasInner(FilterRuleSpec s) =>
        s.InnerSrcIp is not null || s.InnerDstIp is not null || s.InnerProtocol is not null || s.InnerSrcPort is not null || s.InnerDstPort is not null;

    private static bool In(AddressMatch? m, IPAddress a) =>
        m is null || (m.IsIpv6 == (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
                      && new IPNetwork(IPAddress.Parse(m.Network), m.PrefixLength).Contains(a));

    private static bool In(PortRange? r, ushort port) => r is null || (port >= r.From && port <= r.To);
}
