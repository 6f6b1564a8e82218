// The Guarder's drop fast path in the kernel: rules an address decides alone (blocklists) are looked up
// before the flow table, so a flood they drop leaves the flow table alone and every frame still counts.
// Crafted frames through BPF_PROG_RUN of the attached program (exact counts, thousands of sources), and
// real frames out of a veth with BPF_PROG_RUN live frames.
using System.Net;
using PacketScope.Actors.Guard;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Native.Shared;
using PacketScope.Testing;
using Xunit;
using static PacketScope.Testing.TestRules;

namespace PacketScope.Kernel.Tests;

public sealed class DropFastPathKernelSpecs : IDisposable
{
    private const uint XdpDrop = 1;
    private const uint XdpPass = 2;
    private const int TableSize = 1024; // a flood of more sources than this would evict every real flow if it were tracked

    private static readonly IPAddress Host = IPAddress.Parse("192.168.50.1");
    private static readonly IPAddress Attacker = IPAddress.Parse("10.1.2.3");
    private static readonly IPAddress Neighbour = IPAddress.Parse("10.1.2.4");

    private readonly VethPair _pair = VethPair.Create();
    private readonly ConntrackProgram _tracker;
    private long _version;

    public DropFastPathKernelSpecs()
    {
        _tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: TableSize, maxIcmp: 1024);
        _tracker.Attach(_pair.Receiver, NetInterface.IndexOf(_pair.Receiver), XdpMode.Native);
    }

    public void Dispose()
    {
        _tracker.Dispose();
        _pair.Dispose();
    }

    private FilterImage Apply(params FilterRule[] rules)
    {
        var image = KernelRuleSet.Build(RuleSetCompiler.Compile(rules), ++_version);
        _tracker.Filters.Apply(image);
        return image;
    }

    private FilterHits Hits(int id) => _tracker.Filters.ReadHits([(uint)id]).GetValueOrDefault((uint)id);

    private ulong Stat(StatId stat) => Maps.Stat(_tracker, Conntrack.HookIngress, stat).packets;

    private uint Run(byte[] frame, int repeat = 1) => ProgramTestRun.RunXdp(_tracker.IngressProgram, frame, repeat);

    private static byte[] From(IPAddress src, int dport = 9) => Frames.Udp4(src, 1000, Host, dport, 4);

    private static IPAddress V4(uint a) => new([(byte)(a >> 24), (byte)(a >> 16), (byte)(a >> 8), (byte)a]);

    /// <summary>Packets the flow of <paramref name="src"/> (to Host, UDP 1000 -> 9) counted, or null when there is no such flow.</summary>
    private ulong? FlowPackets(IPAddress src)
    {
        var bytes = src.GetAddressBytes();
        foreach (var (key, value) in Maps.Flows(_tracker))
            unsafe
            {
                if (key.addr_a[0] == bytes[0] && key.addr_a[1] == bytes[1] && key.addr_a[2] == bytes[2] && key.addr_a[3] == bytes[3])
                    return value.side_a.packets; // 10.x orders before 192.168.50.1: side a
            }
        return null;
    }

    /// <summary>A blocklist as operators load one: /32 drop rules ahead of a drop rule on the whole 10.0.0.0/8.</summary>
    private static FilterRule[] Blocklist(int count) =>
        Enumerable.Range(0, count).Select(i => Rule(i + 1, Spec(src: V4(0xC6120000u + (uint)i).ToString()), priority: i))
            .Append(Rule(count + 1, Spec(src: "10.0.0.0/8"), priority: count)).ToArray();

    [Fact]
    public void Should_drop_a_flood_from_thousands_of_sources_without_creating_flows_or_evicting_the_real_ones()
    {
        // 200 real flows in a 1,024-entry table, from sources no rule names.
        var real = Enumerable.Range(0, 200).Select(i => V4(0xC0A80A00u + (uint)i)).ToList(); // 192.168.10.x
        foreach (var src in real)
            Assert.Equal(XdpPass, Run(Frames.Udp4(src, 1000, Host, 9, 4)));
        var flowsBefore = Maps.Flows(_tracker).Select(f => f.Key).ToHashSet();
        Assert.Equal(200, flowsBefore.Count);

        var image = Apply(Blocklist(1_000));
        Assert.Equal(1u << (int)FilterField.Src, image.Early); // the fast path is on for this set
        var created = Stat(StatId.FlowNew);
        var dropped = Stat(StatId.Drop);

        // Three times the table's size of distinct sources in 10.0.0.0/8, then one source 10,000 times.
        var rng = new Random(12);
        for (var i = 0; i < 3 * TableSize; i++)
            Assert.Equal(XdpDrop, Run(From(V4(0x0A000000u | (uint)rng.Next(1 << 24)))));
        Assert.Equal(XdpDrop, Run(From(Attacker), repeat: 10_000));

        var sent = 3ul * TableSize + 10_000;
        Assert.Equal(sent, Hits(1_001).Packets);
        Assert.Equal(sent * (ulong)From(Attacker).Length, Hits(1_001).Bytes);
        Assert.InRange(Hits(1_001).LastHitNs, 1ul, MonotonicClock.NowNs());
        Assert.Equal(dropped + sent, Stat(StatId.Drop));
        Assert.Equal(created, Stat(StatId.FlowNew));
        Assert.Equal(flowsBefore, Maps.Flows(_tracker).Select(f => f.Key).ToHashSet());
        Assert.Equal(0ul, Hits(1).Packets); // the /32s ahead of it matched nothing
    }

    [Fact]
    public void Should_count_an_early_drop_in_the_stats_the_full_path_counts_and_leave_bad_headers_to_the_full_path()
    {
        Apply(Blocklist(100));
        StatId[] stats = [StatId.Total, StatId.Ipv4, StatId.Udp, StatId.Tcp, StatId.Vlan, StatId.Malformed, StatId.Drop, StatId.Pass];
        var before = stats.ToDictionary(s => s, Stat);
        var hits = Hits(101).Packets;

        // Untagged UDP and TCP take the XDP entry's IPv4 fast path; a tagged frame the full parser's early drop.
        Assert.Equal(XdpDrop, Run(From(Attacker), repeat: 3));
        Assert.Equal(XdpDrop, Run(Frames.Tcp4(Attacker, 1000, Host, 80, 1, 0, 0x02, 1000, 0), repeat: 2));
        Assert.Equal(XdpDrop, Run(Frames.Udp4(Attacker, 1000, Host, 9, 4, (0x8100, 7))));
        // An IP length too short for the UDP header: the fast path leaves it, the full path drops it as malformed, no rule hit.
        var shortUdp = From(Attacker);
        shortUdp[16] = 0;
        shortUdp[17] = 20 + 4;
        Assert.Equal(XdpDrop, Run(shortUdp));

        var counted = stats.ToDictionary(s => s, s => Stat(s) - before[s]);
        Assert.Equal(7ul, counted[StatId.Total]);
        Assert.Equal(7ul, counted[StatId.Ipv4]);
        Assert.Equal(5ul, counted[StatId.Udp]);
        Assert.Equal(2ul, counted[StatId.Tcp]);
        Assert.Equal(1ul, counted[StatId.Vlan]);
        Assert.Equal(1ul, counted[StatId.Malformed]);
        Assert.Equal(7ul, counted[StatId.Drop]);
        Assert.Equal(0ul, counted[StatId.Pass]);
        Assert.Equal(hits + 6, Hits(101).Packets);
        Assert.Empty(Maps.Flows(_tracker));
    }

    [Fact]
    public void Should_count_every_frame_of_a_flood_sent_through_the_interface()
    {
        using var sender = BpfObject.Open(Path.Combine(AppContext.BaseDirectory, "bpf", "bench_tx.bpf.o"));
        sender.Load();
        var tx = sender.Program("ps_xdp_tx");
        Apply(Blocklist(100));

        // Chunks of 64 frames, each waited for: no chunk can overflow the veth's ring, so every frame reaches XDP.
        var frame = From(Attacker);
        ulong sent = 0;
        var total = Stat(StatId.Total);
        for (var chunk = 0; chunk < 32; chunk++)
        {
            ProgramTestRun.SendLiveFrames(tx, NetInterface.IndexOf(_pair.Sender), frame, 64);
            sent += 64;
            Shell.WaitFor(() => Stat(StatId.Total), n => n >= total + sent, $"{sent} frames at the receiver");
        }

        Assert.Equal(sent, Hits(101).Packets);
        Assert.Equal(sent, Stat(StatId.Drop));
        Assert.Empty(Maps.Flows(_tracker));
    }

    [Fact]
    public void Should_let_the_next_packet_pass_once_the_drop_rule_is_deleted_or_disabled()
    {
        var attacker = Rule(1, Spec(src: Attacker.ToString()));
        var other = Rule(2, Spec(src: "10.200.0.0/16"));
        Apply(attacker, other);
        Assert.Equal(XdpDrop, Run(From(Attacker), repeat: 5));
        Assert.Null(FlowPackets(Attacker));
        Assert.Equal(5ul, Hits(1).Packets);

        Apply(other); // rule 1 deleted
        Assert.Equal(XdpPass, Run(From(Attacker)));
        Assert.Equal(1ul, FlowPackets(Attacker));

        Apply(attacker, other); // back: the flow that exists now is dropped from its next packet, and not counted in it
        Assert.Equal(XdpDrop, Run(From(Attacker)));
        Assert.Equal(1ul, Hits(1).Packets); // its counters started again when it left the set
        Assert.Equal(1ul, FlowPackets(Attacker));

        Apply(attacker with { Spec = attacker.Spec with { Enabled = false } }, other); // rule 1 disabled
        Assert.Equal(XdpPass, Run(From(Attacker)));
        Assert.Equal(2ul, FlowPackets(Attacker));
        Assert.Equal(0ul, Hits(1).Packets); // a rule that left the set starts from zero
    }

    [Fact]
    public void Should_let_an_allow_rule_added_above_a_drop_rule_win_from_the_next_packet()
    {
        var drop = Rule(2, Spec(src: "10.0.0.0/8"), priority: 20);
        Apply(drop);
        Assert.Equal(XdpDrop, Run(From(Attacker)));

        Apply(Rule(1, Spec(src: Attacker.ToString(), action: FilterAction.Allow), priority: 10), drop);
        Assert.Equal(XdpPass, Run(From(Attacker)));
        Assert.Equal(XdpDrop, Run(From(Neighbour)));
        Assert.Equal((1ul, 2ul), (Hits(1).Packets, Hits(2).Packets));
        Assert.Equal(1ul, FlowPackets(Attacker)); // what an allow rule lets in is tracked

        // An allow rule above that looks at a port: the address no longer decides alone, and the port decides.
        var image = Apply(Rule(3, Spec(protocol: 17, dport: Port(53), action: FilterAction.Allow), priority: 5), drop);
        Assert.Equal(0u, image.Early);
        Assert.Equal(XdpPass, Run(From(Neighbour, dport: 53)));
        Assert.Equal(XdpDrop, Run(From(Neighbour, dport: 54)));
        Assert.Equal(1ul, Hits(3).Packets);
    }

    [Fact]
    public void Should_count_and_pass_what_a_monitor_rule_matches_and_track_it_as_flows()
    {
        var image = Apply(Rule(1, Spec(src: Attacker.ToString(), action: FilterAction.Monitor), priority: 10),
            Rule(2, Spec(src: "10.0.0.0/8"), priority: 20));
        Assert.NotEqual(0u, image.Early);
        var monitored = Stat(StatId.Monitor);

        for (var i = 0; i < 4; i++)
            Assert.Equal(XdpPass, Run(From(Attacker)));
        Assert.Equal(XdpDrop, Run(From(Neighbour)));

        Assert.Equal(4ul, Hits(1).Packets);
        Assert.Equal(monitored + 4, Stat(StatId.Monitor));
        Assert.Equal(4ul, FlowPackets(Attacker));
        Assert.Null(FlowPackets(Neighbour));
        Assert.Equal(1ul, Hits(2).Packets);
    }
}
