// The rule classifier's tables: the corner cases the issue names, and agreement with a rule-by-rule
// reference on random rules and packets, from a handful of rules to thousands.
using System.Net;
using PacketScope.Actors.Guard;
using PacketScope.Messages;
using Xunit;
using static PacketScope.Testing.TestRules;

namespace PacketScope.Actors.Tests;

public sealed class RuleSetCompilerSpecs
{
    private static int s_id;

    private static FilterRule Rule(FilterRuleSpec spec, int priority) =>
        new(Interlocked.Increment(ref s_id), priority, spec, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);


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

    [Fact]
    public void Should_agree_with_the_reference_on_thousands_of_rules_with_nested_prefixes_and_overlapping_ranges()
    {
        var random = new Random(20261124);
        // Hosts packed into a small space, so rule prefixes nest deeply and a packet falls under several of them.
        var hosts4 = Enumerable.Range(0, 1000).Select(_ => new IPAddress(new byte[] { 10, (byte)random.Next(4), (byte)random.Next(32), (byte)random.Next(256) })).ToArray();
        var hosts6 = Enumerable.Range(0, 200).Select(_ =>
        {
            var b = new byte[16];
            b[0] = 0xfd;
            b[1] = (byte)random.Next(2);
            b[5] = (byte)random.Next(8);
            b[15] = (byte)random.Next(256);
            return new IPAddress(b);
        }).ToArray();
        AddressMatch Prefix(IPAddress host, int length)
        {
            var b = host.GetAddressBytes();
            for (var bit = length; bit < b.Length * 8; bit++)
                b[bit / 8] &= (byte)~(0x80 >> (bit % 8));
            return new AddressMatch(new IPAddress(b).ToString(), length, b.Length == 16);
        }
        // A /0 source (always paired with a destination) must reach every other prefix's vector too.
        AddressMatch? Net(bool v6, int percent, bool anywhere = false) => random.Next(100) >= percent ? null
            : anywhere && random.Next(8) == 0 ? Prefix(v6 ? hosts6[0] : hosts4[0], 0)
            : v6 ? Prefix(hosts6[random.Next(hosts6.Length)], random.Next(40, 129)) : Prefix(hosts4[random.Next(hosts4.Length)], random.Next(14, 33));
        PortRange? Range(int percent) => random.Next(100) >= percent ? null
            : random.Next(1, 2000) is var from ? new PortRange(from, Math.Min(65535, from + random.Next(0, 300))) : null;
        byte[] masks = [0, 0, 2, 18, 0x3f, 0xff];

        var rules = new List<FilterRule>();
        for (var i = 0; i < 2500; i++)
        {
            var v6 = random.Next(3) == 0;
            var proto = (byte)(random.Next(10) == 0 ? 0 : v6 ? new byte[] { 6, 17, 58 }[random.Next(3)] : new byte[] { 1, 6, 17 }[random.Next(3)]);
            var icmp = proto is 1 or 58;
            var ports = proto is 6 or 17;
            var mask = proto == 6 ? masks[random.Next(masks.Length)] : (byte)0;
            var type = icmp && random.Next(2) == 0 ? (byte?)random.Next(0, 12) : null;
            var src = Net(v6, 70, anywhere: true);
            rules.Add(Rule(new FilterRuleSpec(FilterRuleType.Basic, proto,
                src, Net(v6, src is null || src.PrefixLength == 0 ? 100 : 50), // every rule names a prefix, so packets from elsewhere match none
                ports ? Range(30) : null, ports ? Range(60) : null,
                (byte)(random.Next(256) & mask), mask,
                type, type is not null && random.Next(2) == 0 ? (byte)random.Next(0, 4) : null,
                icmp ? Net(random.Next(2) == 0, 25) : null, icmp ? Net(random.Next(2) == 0, 25) : null,
                icmp && random.Next(3) == 0 ? (byte)17 : null, icmp ? Range(25) : null, icmp ? Range(25) : null,
                (FilterAction)random.Next(3), random.Next(10) != 0, "", null, null), random.Next(0, 1000)));
        }
        var set = RuleSetCompiler.Compile(rules);
        Assert.True(set.Src4.Count > 400 && set.Dst6.Count > 300 && set.DstPort.Count > 1000 && set.Words > 32,
            $"tables too small: src4 {set.Src4.Count}, dst6 {set.Dst6.Count}, dport {set.DstPort.Count}, {set.Words} words");
        var ordered = rules.Where(r => r.Spec.Enabled).OrderBy(r => r.Priority).ThenBy(r => r.Id).ToList();

        IPAddress Near(IPAddress[] hosts)
        {
            // A known host, or one differing from it in a single bit, so some lookups end on a shorter
            // prefix; or an address outside every rule.
            if (random.Next(5) < 2)
                return hosts == hosts4 ? IPAddress.Parse($"172.16.{random.Next(256)}.{random.Next(256)}") : IPAddress.Parse($"fe80::{random.Next(65536):x}");
            var b = hosts[random.Next(hosts.Length)].GetAddressBytes();
            if (random.Next(2) == 0)
                b[random.Next(1, b.Length)] ^= (byte)(1 << random.Next(8));
            return new IPAddress(b);
        }
        int matched = 0, unmatched = 0;
        var winners = new HashSet<int>();
        for (var k = 0; k < 500; k++)
        {
            var v6 = random.Next(3) == 0;
            var hosts = v6 ? hosts6 : hosts4;
            var proto = v6 ? new byte[] { 6, 17, 58 }[random.Next(3)] : new byte[] { 1, 6, 17 }[random.Next(3)];
            var inner = proto is 1 or 58 && random.Next(2) == 0;
            var innerHosts = random.Next(2) == 0 ? hosts4 : hosts6;
            var p = new PacketFields(proto, Near(hosts), Near(hosts), (ushort)random.Next(0, 2400), (ushort)random.Next(0, 2400),
                (byte)random.Next(256), (byte)random.Next(0, 12), (byte)random.Next(0, 4), inner,
                inner ? Near(innerHosts) : null, inner ? Near(innerHosts) : null, (byte)(random.Next(2) == 0 ? 17 : 6),
                (ushort)random.Next(0, 2400), (ushort)random.Next(0, 2400));
            var expected = ordered.FirstOrDefault(r => Matches(r.Spec, p))?.Id;
            Assert.Equal(expected, set.Match(p)?.Id);
            if (expected is { } id)
            {
                matched++;
                winners.Add(id);
            }
            else
            {
                unmatched++;
            }
        }
        // Many different rules won, so the agreement reaches deep into the vectors, not just a few broad rules.
        Assert.True(matched > 200 && unmatched > 50 && winners.Count > 40, $"{matched} matched ({winners.Count} rules), {unmatched} unmatched");
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
