// The Guarder in the kernel: compiled rule sets written into the real XDP program's tables, real
// packets from a network namespace (and crafted frames through BPF_PROG_RUN), verdicts and hit counters.
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using PacketScope.Actors.Guard;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Native.Shared;
using PacketScope.Testing;
using Xunit;
using static PacketScope.Testing.TestRules;

namespace PacketScope.Kernel.Tests;

public sealed class FilterKernelSpecs : IDisposable
{
    private const uint XdpDrop = 1;
    private const uint XdpPass = 2;

    private readonly VethNamespace _ns = VethNamespace.Create();
    private readonly ConntrackProgram _tracker;
    private long _version;

    public FilterKernelSpecs()
    {
        _tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: 65_536, maxIcmp: 4_096);
        _tracker.Attach(_ns.HostInterface, _ns.HostIndex, XdpMode.Native);
    }

    public void Dispose()
    {
        _tracker.Dispose();
        _ns.Dispose();
    }

    private CompiledRuleSet Apply(params FilterRule[] rules)
    {
        var set = RuleSetCompiler.Compile(rules);
        _tracker.Filters.Apply(KernelRuleSet.Build(set, ++_version));
        return set;
    }

    private FilterHits Hits(int id) =>
        _tracker.Filters.ReadHits([(uint)id]).GetValueOrDefault((uint)id);

    private bool PingFromPeer(int count, bool ipv6 = false) => _ns.PingFromPeer(count, ipv6);

    /// <summary>Opens a TCP connection from the namespace to the host; true when the handshake completes within the timeout.</summary>
    private bool ConnectFromPeer(int port, double seconds = 1.5)
    {
        var (code, _, _) = Shell.TryRun("ip", "netns", "exec", _ns.Namespace, "timeout", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "bash", "-c", $"exec 3<>/dev/tcp/{_ns.HostAddress}/{port}");
        return code == 0;
    }

    private static TcpListener? TryListen(IPAddress address, int port)
    {
        var listener = new TcpListener(address, port);
        try
        {
            listener.Start();
            return listener;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            listener.Dispose();
            return null; // something on this host listens there already: it answers the handshake just the same
        }
    }

    [Fact]
    public void Should_block_ping_with_an_echo_request_rule_and_let_it_through_again_once_the_rule_is_gone()
    {
        Assert.True(PingFromPeer(1));
        var echoRequests = Rule(1, Spec(protocol: 1, icmpType: 8));
        Apply(echoRequests);

        Assert.False(PingFromPeer(3));
        Assert.Equal(3ul, Hits(1).Packets);
        Assert.True(Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Drop).packets >= 3);

        Apply(); // the rule disabled or deleted: an empty set
        Assert.True(PingFromPeer(2));
    }

    [Fact]
    public void Should_count_exactly_the_packets_a_rule_dropped()
    {
        Apply(Rule(7, Spec(protocol: 1, icmpType: 8)));
        Assert.False(PingFromPeer(5));

        var hits = Hits(7);
        Assert.Equal(5ul, hits.Packets);
        Assert.Equal(5ul * (14 + 20 + 8 + 56), hits.Bytes); // ping's default 56 data bytes
        Assert.InRange(hits.LastHitNs, 1ul, MonotonicClock.NowNs());
        // Dropped packets never reach the tracker: no echo flow, no ingress echo request entry.
        Assert.DoesNotContain(Maps.Icmp(_tracker), e => e.Key.type == 8 && e.Key.hook == Conntrack.HookIngress);
    }

    [Fact]
    public void Should_keep_a_rules_counters_while_it_stays_and_start_from_zero_once_it_left()
    {
        var ping = Rule(1, Spec(protocol: 1, icmpType: 8, action: FilterAction.Monitor));
        Apply(ping);
        Assert.True(PingFromPeer(2));
        Apply(ping, Rule(2, Spec(protocol: 17, dport: Port(53)))); // another rule joins: rule 1 moves nothing, keeps counting
        Assert.True(PingFromPeer(1));
        Assert.Equal(3ul, Hits(1).Packets);

        Apply(Rule(2, Spec(protocol: 17, dport: Port(53)))); // rule 1 disabled or deleted
        Assert.Equal(0ul, Hits(1).Packets);
        Apply(ping, Rule(2, Spec(protocol: 17, dport: Port(53))));
        Assert.True(PingFromPeer(1));
        Assert.Equal(1ul, Hits(1).Packets);
    }

    [Fact]
    public void Should_drop_TCP_to_port_23_while_port_22_passes()
    {
        using var telnet = TryListen(_ns.HostAddress, 23);
        using var ssh = TryListen(_ns.HostAddress, 22);
        Apply(Rule(1, Spec(protocol: 6, dport: Port(23))));

        Assert.True(ConnectFromPeer(22));
        Assert.False(ConnectFromPeer(23));
        Assert.True(Hits(1).Packets >= 1); // the SYN and its retransmissions
    }

    [Fact]
    public async Task Should_drop_new_connections_with_a_SYN_only_rule_but_not_an_established_one()
    {
        using var listener = new TcpListener(_ns.HostAddress, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        // A connection from the namespace that answers the first line it reads.
        using var peer = Process.Start(new ProcessStartInfo("ip",
            ["netns", "exec", _ns.Namespace, "bash", "-c", $"exec 3<>/dev/tcp/{_ns.HostAddress}/{port}; read -r line <&3; echo \"pong-$line\" >&3; sleep 1"])
        { RedirectStandardOutput = true, RedirectStandardError = true })!;
        using var established = await listener.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Apply(Rule(1, Spec(protocol: 6, dport: Port(port), flags: 0x02, mask: 0x12))); // SYN set, ACK clear

        var stream = established.GetStream();
        await stream.WriteAsync("1\n"u8.ToArray());
        using var reader = new StreamReader(stream);
        Assert.Equal("pong-1", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0ul, Hits(1).Packets);

        Assert.False(ConnectFromPeer(port));
        Assert.True(Hits(1).Packets >= 1);
    }

    [Fact]
    public void Should_drop_by_CIDR_prefix_only_inside_the_prefix()
    {
        Apply(Rule(1, Spec(protocol: 1, src: "10.254.0.0/16")));
        Assert.True(PingFromPeer(1));
        Assert.Equal(0ul, Hits(1).Packets);

        Apply(Rule(2, Spec(protocol: 1, src: $"{_ns.PeerAddress}/24")));
        Assert.False(PingFromPeer(2));
        Assert.Equal(2ul, Hits(2).Packets);
    }

    [Fact]
    public void Should_drop_IPv6_echo_requests_from_an_IPv6_source_and_leave_neighbour_discovery_alone()
    {
        Assert.True(PingFromPeer(1, ipv6: true));
        Apply(Rule(1, Spec(protocol: 58, src: $"{_ns.PeerAddress6}/128", icmpType: 128)));

        Assert.False(PingFromPeer(3, ipv6: true));
        Assert.Equal(3ul, Hits(1).Packets);
        Assert.True(PingFromPeer(1)); // IPv4 untouched
    }

    [Fact]
    public void Should_drop_port_unreachable_errors_quoting_UDP_port_53_and_pass_the_others()
    {
        Apply(Rule(1, Spec(protocol: 1, icmpType: 3, icmpCode: 3, innerProtocol: 17, innerDport: Port(53))));
        using var udp = new UdpClient(new IPEndPoint(_ns.HostAddress, 0));
        for (var i = 0; i < 3; i++)
        {
            udp.Send([1, 2, 3], new IPEndPoint(_ns.PeerAddress, 53)); // nothing listens in the namespace: port unreachable
            udp.Send([1, 2, 3], new IPEndPoint(_ns.PeerAddress, 54));
        }

        var passed = Shell.WaitFor(() => Maps.Icmp(_tracker).Where(e => e.Key.type == 3 && e.Key.hook == Conntrack.HookIngress).ToList(),
            l => l.Sum(e => (long)e.Value.packets) >= 3, "the port-54 errors to arrive");
        Assert.All(passed, e => Assert.Equal(54, e.Key.inner_dport));
        Assert.Equal(3ul, Shell.WaitFor(() => Hits(1).Packets, n => n >= 3, "the port-53 errors to be dropped"));
    }

    [Fact]
    public void Should_let_an_allow_rule_above_a_drop_rule_win()
    {
        Apply(Rule(1, Spec(protocol: 1, src: _ns.PeerAddress.ToString(), action: FilterAction.Allow), priority: 10),
            Rule(2, Spec(protocol: 1, icmpType: 8), priority: 20));

        Assert.True(PingFromPeer(3));
        Assert.Equal(3ul, Hits(1).Packets);
        Assert.Equal(0ul, Hits(2).Packets);

        // The same two rules the other way round: the drop wins.
        Apply(Rule(1, Spec(protocol: 1, src: _ns.PeerAddress.ToString(), action: FilterAction.Allow), priority: 30),
            Rule(2, Spec(protocol: 1, icmpType: 8), priority: 20));
        Assert.False(PingFromPeer(2));
        Assert.Equal(2ul, Hits(2).Packets);
    }

    [Fact]
    public void Should_count_a_monitor_rule_and_drop_nothing()
    {
        Apply(Rule(1, Spec(protocol: 1, icmpType: 8, action: FilterAction.Monitor)));

        Assert.True(PingFromPeer(4));
        Assert.Equal(4ul, Hits(1).Packets);
        Assert.Equal(4ul, Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Monitor).packets);
        Assert.Equal(0ul, Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Drop).packets);
    }

    // ---- Crafted frames through BPF_PROG_RUN: the corners, and the kernel against the compiler's reference.

    private static readonly IPAddress A = IPAddress.Parse("10.1.2.3");
    private static readonly IPAddress B = IPAddress.Parse("10.1.2.4");
    private static readonly IPAddress C = IPAddress.Parse("10.2.0.9");
    private static readonly IPAddress Router = IPAddress.Parse("10.9.9.9");

    private uint Run(byte[] frame) => ProgramTestRun.RunXdp(_tracker.IngressProgram, frame);

    private static byte[] PortUnreachable(IPAddress from, IPAddress to, byte[] quoted) =>
        Frames.Icmp4(from, to, 3, 3, quoted.AsSpan(14, 20 + 8));

    /// <summary>The frame as an IPv4 fragment: offset in 8-byte units, MF, and optionally cut to <paramref name="l4Bytes"/> of its L4 header.</summary>
    private static byte[] Fragment(byte[] frame, int offset, bool more, int? l4Bytes = null)
    {
        var f = l4Bytes is { } n ? frame.AsSpan(0, 14 + 20 + n).ToArray() : (byte[])frame.Clone();
        var ip = f.AsSpan(14, 20);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(f.Length - 14));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(ip[6..], (ushort)((more ? 0x2000 : 0) | offset));
        ip[10] = ip[11] = 0;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Frames.Checksum(ip));
        return f;
    }

    [Fact]
    public void Should_match_later_fragments_only_with_rules_that_need_no_transport_header()
    {
        var later = Fragment(Frames.Udp4(A, 53, B, 4000, 64), offset: 185, more: false); // bytes 1480.. of a DNS answer
        Apply(Rule(1, Spec(protocol: 17, sport: Port(53), action: FilterAction.Allow)), Rule(2, Spec(protocol: 17, dport: new PortRange(0, 65535))));
        Assert.Equal(XdpPass, Run(later)); // neither port rule can see a port: no match
        Assert.Equal(XdpDrop, Run(Frames.Udp4(A, 1000, B, 4000, 4)));

        Apply(Rule(3, Spec(protocol: 17, src: "10.1.2.0/24")));
        Assert.Equal(XdpDrop, Run(later)); // an address rule does
        Assert.Equal(1ul, Hits(3).Packets);

        Apply(Rule(4, Spec(protocol: 1, icmpType: 0)));
        Assert.Equal(XdpPass, Run(Fragment(Frames.Icmp4(A, B, 8, 0, new byte[64]), offset: 10, more: false))); // not "type 0"
    }

    [Fact]
    public void Should_drop_a_first_fragment_too_short_for_its_TCP_header_once_rules_are_loaded()
    {
        var tiny = Fragment(Frames.Tcp4(A, 40000, B, 22, 1, 0, 0x02, 100, 0), offset: 0, more: true, l4Bytes: 8); // RFC 1858
        Assert.Equal(XdpPass, Run(tiny)); // no rules: the Guarder is off, the packet is only counted
        var malformed = Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Malformed).packets;

        Apply(Rule(1, Spec(protocol: 6, dport: Port(22))));
        Assert.Equal(XdpDrop, Run(tiny));
        Assert.Equal(malformed + 1, Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Malformed).packets);
        Assert.Equal(XdpPass, Run(Frames.Tcp4(A, 40000, B, 23, 1, 0, 0x02, 100, 0)));
    }

    [Fact]
    public void Should_match_IPv6_prefixes_of_any_length_and_keep_IPv4_rules_off_IPv6()
    {
        var inside = IPAddress.Parse("2001:db8:aa:bb12:3456::1"); // in the /80 and in the /56
        var neighbour = IPAddress.Parse("2001:db8:aa:bc00::1");  // outside the /56
        var host = IPAddress.Parse("2001:db8::2");
        Apply(Rule(1, Spec(protocol: 17, src: "2001:db8:aa:bb12:3456::/80", action: FilterAction.Allow)),
            Rule(2, Spec(protocol: 17, src: "2001:db8:aa:bb00::/56")),
            Rule(3, Spec(protocol: 17, src: "10.0.0.0/8")),
            Rule(4, Spec(protocol: 17, dst: "2001:db8::/127", dport: Port(53))));

        Assert.Equal(XdpPass, Run(Frames.Udp6(inside, 1000, host, 80, 4)));                                // rule 1 (/80) wins
        Assert.Equal(XdpDrop, Run(Frames.Udp6(IPAddress.Parse("2001:db8:aa:bb12:3457::1"), 1000, host, 80, 4))); // /80 misses, /56 drops
        Assert.Equal(XdpPass, Run(Frames.Udp6(neighbour, 1000, host, 80, 4)));                             // no rule: the v4 one never matches v6
        Assert.Equal(XdpDrop, Run(Frames.Udp6(neighbour, 1000, IPAddress.Parse("2001:db8::1"), 53, 4)));   // /127 holds ::0 and ::1
        Assert.Equal(XdpPass, Run(Frames.Udp6(neighbour, 1000, IPAddress.Parse("2001:db8::3"), 53, 4)));
        Assert.Equal((1ul, 1ul, 0ul, 1ul), (Hits(1).Packets, Hits(2).Packets, Hits(3).Packets, Hits(4).Packets));
    }

    [Fact]
    public void Should_drop_an_IPv6_packet_whose_extension_chain_hides_the_transport_header_once_rules_are_loaded()
    {
        var deep = Frames.Udp6(IPAddress.Parse("2001:db8::5"), 1000, IPAddress.Parse("2001:db8::2"), 80, 4, extensionHeaders: 5);
        var shallow = Frames.Udp6(IPAddress.Parse("2001:db8::5"), 1000, IPAddress.Parse("2001:db8::2"), 80, 4, extensionHeaders: 2);
        Assert.Equal(XdpPass, Run(deep)); // no rules: counted as malformed, passed

        Apply(Rule(1, Spec(protocol: 17, dport: Port(53))));
        Assert.Equal(XdpDrop, Run(deep));
        Assert.Equal(XdpPass, Run(shallow)); // two headers are walked: UDP to 80 is seen and matches nothing
    }

    [Fact]
    public void Should_match_ICMP_type_0_only_to_echo_replies()
    {
        Apply(Rule(1, Spec(protocol: 1, icmpType: 0)));

        Assert.Equal(XdpDrop, Run(Frames.Icmp4(A, B, 0, 0, new byte[8])));
        Assert.Equal(XdpPass, Run(Frames.Icmp4(A, B, 8, 0, new byte[8])));
        Assert.Equal(XdpPass, Run(PortUnreachable(A, B, Frames.Udp4(B, 1000, A, 53, 4))));
        Assert.Equal(XdpPass, Run(Frames.Udp4(A, 1000, B, 2000, 4))); // a UDP packet's "type" is not 0
    }

    [Fact]
    public void Should_not_match_a_TCP_flags_rule_to_UDP()
    {
        Apply(Rule(1, Spec(protocol: 6, flags: 0, mask: 0x12))); // SYN and ACK clear: matches a bare FIN or RST, and no UDP

        Assert.Equal(XdpDrop, Run(Frames.Tcp4(A, 1000, B, 80, 1, 0, 0x04, 0, 0)));
        Assert.Equal(XdpPass, Run(Frames.Tcp4(A, 1000, B, 80, 1, 0, 0x10, 100, 0)));
        Assert.Equal(XdpPass, Run(Frames.Udp4(A, 1000, B, 80, 4)));
    }

    [Fact]
    public void Should_classify_a_flow_by_its_cached_verdict_until_the_rule_set_changes()
    {
        var dns = Frames.Udp4(A, 1000, B, 53, 4);
        ulong Passed() => Maps.Flows(_tracker).Single().Value.side_a.packets; // A orders before B: side a

        Apply(Rule(1, Spec(protocol: 17, dport: Port(54)))); // matches nothing here
        for (var i = 0; i < 3; i++)
            Assert.Equal(XdpPass, Run(dns));
        Assert.Equal(3ul, Passed());
        Assert.NotEqual(0ul, Maps.Flows(_tracker).Single().Value.side_a.filter); // the verdict is cached

        var monitor = Rule(2, Spec(src: "10.1.2.0/24", dport: Port(53), action: FilterAction.Monitor));
        Apply(Rule(1, Spec(protocol: 17, dport: Port(54))), monitor); // a new epoch: the flow is classified again
        var monitored = Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Monitor).packets;
        for (var i = 0; i < 4; i++)
            Assert.Equal(XdpPass, Run(dns));
        Assert.Equal(4ul, Hits(2).Packets); // counted on every packet, cached or not
        Assert.Equal(4ul * (ulong)dns.Length, Hits(2).Bytes);
        Assert.Equal(monitored + 4, Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Monitor).packets);

        Apply(monitor, Rule(3, Spec(protocol: 17, dport: Port(53)), priority: 5)); // a drop rule above it
        for (var i = 0; i < 2; i++)
            Assert.Equal(XdpDrop, Run(dns));
        Assert.Equal(2ul, Hits(3).Packets);
        Assert.Equal(4ul, Hits(2).Packets);
        Assert.Equal(7ul, Passed()); // dropped packets are not counted in the flow

        Apply(); // no rules: the flow passes again
        Assert.Equal(XdpPass, Run(dns));
        Apply(Rule(4, Spec(protocol: 17, sport: Port(1000)))); // an epoch whose verdict differs from the last cached one
        Assert.Equal(XdpDrop, Run(dns));
        Assert.Equal(8ul, Passed());
    }

    [Fact]
    public void Should_cache_each_side_of_a_flow_on_its_own()
    {
        // A forwarding host sees both sides of a flow at ingress: each has its own verdict.
        var forth = Frames.Udp4(A, 1000, C, 2000, 4);
        var back = Frames.Udp4(C, 2000, A, 1000, 4);
        Apply(Rule(1, Spec(src: "10.2.0.0/16")));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(XdpPass, Run(forth));
            Assert.Equal(XdpDrop, Run(back));
        }
        Assert.Equal(3ul, Hits(1).Packets);
        var flow = Maps.Flows(_tracker).Single().Value;
        Assert.Equal(3ul, flow.side_a.packets);
        Assert.Equal(0ul, flow.side_b.packets);
    }

    [Fact]
    public void Should_classify_every_packet_when_a_rule_looks_at_what_changes_within_a_flow()
    {
        var ack = Frames.Tcp4(A, 1000, B, 80, 1, 1, 0x10, 100, 0);
        Apply(Rule(1, Spec(protocol: 17, dport: Port(53)))); // cacheable: the flow caches "no match"
        Assert.Equal(XdpPass, Run(ack));
        Apply(Rule(1, Spec(protocol: 6, flags: 0x04, mask: 0x04))); // RSTs: flags differ packet by packet
        Assert.Equal(XdpPass, Run(ack));
        Assert.Equal(XdpDrop, Run(Frames.Tcp4(A, 1000, B, 80, 2, 1, 0x14, 100, 0)));
        Assert.Equal(XdpPass, Run(ack));
        Assert.Equal(1ul, Hits(1).Packets);
    }

    [Fact]
    public void Should_apply_inner_fields_only_to_ICMP_errors()
    {
        Apply(Rule(1, Spec(protocol: 1, innerProtocol: 17, innerDport: Port(53))));

        Assert.Equal(XdpDrop, Run(PortUnreachable(Router, A, Frames.Udp4(A, 4000, C, 53, 4))));
        Assert.Equal(XdpPass, Run(PortUnreachable(Router, A, Frames.Udp4(A, 4000, C, 54, 4))));
        Assert.Equal(XdpPass, Run(Frames.Icmp4(Router, A, 8, 0, new byte[8]))); // quotes nothing
        Assert.Equal(XdpPass, Run(Frames.Udp4(A, 4000, C, 53, 4)));             // plain UDP to 53 is not an error
    }

    [Fact]
    public void Should_give_the_verdict_and_the_winning_rule_the_compiler_gives_for_random_rule_sets()
    {
        var rng = new Random(20261123);
        var addresses = new[] { "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "10.1.2.4", "10.2.0.0/16", "10.0.0.0/8" };
        var hosts = new[] { A, B, C, Router, IPAddress.Parse("10.1.7.7"), IPAddress.Parse("192.168.1.1") };
        var ranges = new[] { Port(53), Port(22), Port(23), new PortRange(80, 90), new PortRange(1000, 2000), new PortRange(0, 1023) };
        var ports = new[] { 53, 22, 23, 80, 85, 91, 1000, 1500, 2001, 40000 };
        T Pick<T>(T[] from) => from[rng.Next(from.Length)];
        T? Maybe<T>(T[] from) where T : class => rng.Next(3) == 0 ? Pick(from) : null;
        PortRange? MaybePort() => rng.Next(3) == 0 ? Pick(ranges) : null;

        var dropped = 0;
        var passed = 0;
        var winners = new HashSet<int>();
        for (var round = 0; round < 12; round++)
        {
            var rules = new List<FilterRule>();
            var count = round % 3 == 2 ? 150 : 30; // 150 rules: vectors of three words, winners beyond the first
            for (var i = 0; i < count; i++)
            {
                var action = (FilterAction)rng.Next(3);
                FilterRuleSpec spec = rng.Next(4) switch
                {
                    0 => Spec(protocol: 6, src: Maybe(addresses), dst: Maybe(addresses), dport: MaybePort(), sport: MaybePort(),
                        flags: rng.Next(2) == 0 ? (byte)0 : (byte)0x02, mask: rng.Next(2) == 0 ? (byte)0 : (byte)0x12, action: action),
                    1 => Spec(protocol: 17, src: Maybe(addresses), dst: Maybe(addresses), dport: MaybePort(), sport: MaybePort(), action: action),
                    2 => rng.Next(2) == 0
                        ? Spec(protocol: 1, src: Maybe(addresses), icmpType: rng.Next(2) == 0 ? null : (byte)Pick(new[] { 0, 8, 3 }), action: action)
                        : Spec(protocol: 1, icmpType: 3, icmpCode: rng.Next(2) == 0 ? null : (byte)3, innerProtocol: rng.Next(2) == 0 ? null : (byte)Pick(new[] { 6, 17 }),
                            innerDst: Maybe(addresses), innerDport: null, action: action),
                    _ => Spec(src: Maybe(addresses), dst: Maybe(addresses), action: action),
                };
                if (spec.InnerProtocol is 6 or 17 && rng.Next(2) == 0)
                    spec = spec with { InnerDstPort = Pick(ranges) };
                if ((spec.TcpFlags & ~spec.TcpFlagsMask) != 0)
                    spec = spec with { TcpFlagsMask = (byte)(spec.TcpFlagsMask | spec.TcpFlags) };
                rules.Add(Rule(round * 1000 + i + 1, spec, priority: rng.Next(1000)));
            }
            var set = Apply(rules.ToArray());

            for (var p = 0; p < 60; p++)
            {
                var (src, dst) = (Pick(hosts), Pick(hosts));
                int sport = Pick(ports), dport = Pick(ports);
                byte[] frame;
                PacketFields fields;
                switch (rng.Next(5))
                {
                    case 4:
                        var proto = (byte)Pick(new[] { 6, 17, 1 });
                        var whole = proto switch
                        {
                            6 => Frames.Tcp4(src, sport, dst, dport, 1, 1, 0x10, 100, 64),
                            17 => Frames.Udp4(src, sport, dst, dport, 64),
                            _ => Frames.Icmp4(src, dst, 8, 0, new byte[64]),
                        };
                        frame = Fragment(whole, offset: 100, more: rng.Next(2) == 0);
                        fields = new PacketFields(proto, src, dst, 0, 0, 0, 0, 0, L4Unknown: true);
                        break;
                    case 0:
                        var flags = (byte)Pick(new[] { 0x02, 0x12, 0x10, 0x04, 0x01 });
                        frame = Frames.Tcp4(src, sport, dst, dport, 1, 1, flags, 100, 0);
                        fields = new PacketFields(6, src, dst, (ushort)sport, (ushort)dport, flags, 0, 0);
                        break;
                    case 1:
                        frame = Frames.Udp4(src, sport, dst, dport, 4);
                        fields = new PacketFields(17, src, dst, (ushort)sport, (ushort)dport, 0, 0, 0);
                        break;
                    case 2:
                        var type = (byte)Pick(new[] { 0, 8 });
                        frame = Frames.Icmp4(src, dst, type, 0, new byte[8]);
                        fields = new PacketFields(1, src, dst, 0, 0, 0, type, 0);
                        break;
                    default:
                        var (isrc, idst) = (Pick(hosts), Pick(hosts));
                        var tcpInner = rng.Next(2) == 0;
                        var quoted = tcpInner ? Frames.Tcp4(isrc, sport, idst, dport, 1, 0, 0x02, 100, 0) : Frames.Udp4(isrc, sport, idst, dport, 4);
                        frame = PortUnreachable(src, dst, quoted);
                        fields = new PacketFields(1, src, dst, 0, 0, 0, 3, 3, true, isrc, idst, (byte)(tcpInner ? 6 : 17), (ushort)sport, (ushort)dport);
                        break;
                }

                var expected = set.Match(fields);
                var before = expected is null ? default : Hits(expected.Id);
                var verdict = Run(frame);

                var what = $"round {round}, packet {p}: {fields} -> rule {expected?.Id.ToString() ?? "none"}";
                Assert.True((expected?.Spec.Action == FilterAction.Drop ? XdpDrop : XdpPass) == verdict, what);
                if (expected is not null)
                {
                    Assert.True(Hits(expected.Id).Packets == before.Packets + 1, what);
                    winners.Add(expected.Id);
                }
                if (verdict == XdpDrop)
                    dropped++;
                else
                    passed++;
            }
        }
        // The random sets exercised both verdicts and many different rules.
        Assert.True(dropped > 50 && passed > 50, $"dropped {dropped}, passed {passed}");
        Assert.True(winners.Count > 30, $"{winners.Count} distinct winning rules");
    }

    [Fact]
    public void Should_find_a_winner_many_words_in_when_every_vector_spans_the_whole_set()
    {
        // Even rules match dport 5000 only with sport 7000, odd ones sport 6000 only with dport 7000: each field's
        // vector spans every word, their AND is empty until rule 590, in the second block of eight words.
        var rules = Enumerable.Range(0, 600).Select(i => Rule(i + 1, i >= 590
            ? Spec(protocol: 17, dport: Port(5000), sport: Port(6000))
            : i % 2 == 0 ? Spec(protocol: 17, dport: Port(5000), sport: Port(7000 + i)) : Spec(protocol: 17, dport: Port(7000 + i), sport: Port(6000)))).ToArray();
        Apply(rules);

        Assert.Equal(XdpDrop, Run(Frames.Udp4(A, 6000, B, 5000, 4)));
        Assert.Equal(1ul, Hits(591).Packets);
        Assert.Equal(XdpDrop, Run(Frames.Udp4(A, 7000, B, 5000, 4))); // rule 1 (i = 0), the first word
        Assert.Equal(1ul, Hits(1).Packets);
        Assert.Equal(XdpPass, Run(Frames.Udp4(A, 6001, B, 5000, 4)));
    }

    [Fact]
    public void Should_classify_by_the_latest_rule_set_after_many_changes()
    {
        var udp53 = Frames.Udp4(A, 1000, B, 53, 4);
        var udp54 = Frames.Udp4(A, 1000, B, 54, 4);
        for (var i = 0; i < 10; i++)
        {
            // Alternate between sets that differ in every table: addresses, ports, the rule count.
            if (i % 2 == 0)
                Apply(Rule(1, Spec(protocol: 17, dport: Port(53), src: "10.1.2.0/24")));
            else
                Apply(Rule(2, Spec(protocol: 17, dport: Port(54))), Rule(3, Spec(protocol: 6, dst: "10.9.0.0/16")));
            Assert.Equal(i % 2 == 0 ? XdpDrop : XdpPass, Run(udp53));
            Assert.Equal(i % 2 == 0 ? XdpPass : XdpDrop, Run(udp54));
        }
        Apply();
        Assert.Equal(XdpPass, Run(udp53));
        Assert.Equal(XdpPass, Run(udp54));
    }
}
