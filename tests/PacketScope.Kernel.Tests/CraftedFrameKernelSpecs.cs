// Frames a namespace cannot produce on demand (VLAN tags without the 8021q module, a retransmission,
// a gap, duplicate ACKs, a zero window, an ICMP time exceeded, broken headers), crafted and sent for
// real out of a veth with BPF_PROG_RUN live frames into the tracker's XDP program.
using System.Net;
using PacketScope.Actors.Interfaces;
using PacketScope.Actors.Views;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Native;
using PacketScope.Native.Shared;
using PacketScope.Testing;
using Xunit;
using static PacketScope.Actors.Interfaces.FlowState;

namespace PacketScope.Kernel.Tests;

public sealed class CraftedFrameKernelSpecs : IDisposable
{
    private readonly VethPair _pair = VethPair.Create();
    private readonly ConntrackProgram _tracker;
    private readonly BpfObject _sender;
    private readonly BpfProgram _tx;
    private readonly int _senderIndex;
    private ulong _sent;

    public CraftedFrameKernelSpecs()
    {
        _tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: 4096, maxIcmp: 1024);
        _tracker.Attach(_pair.Receiver, NetInterface.IndexOf(_pair.Receiver), XdpMode.Native);
        _sender = BpfObject.Open(Path.Combine(AppContext.BaseDirectory, "bpf", "bench_tx.bpf.o"));
        _sender.Load();
        _tx = _sender.Program("ps_xdp_tx");
        _senderIndex = NetInterface.IndexOf(_pair.Sender);
    }

    public void Dispose()
    {
        _sender.Dispose();
        _tracker.Dispose();
        _pair.Dispose();
    }

    /// <summary>Sends the frames in order and waits until the tracker has seen every one.</summary>
    private void Send(params byte[][] frames) => Send(1, frames);

    private void Send(int times, params byte[][] frames)
    {
        foreach (var frame in frames)
        {
            ProgramTestRun.SendLiveFrames(_tx, _senderIndex, frame, times);
            _sent += (ulong)times;
            // One at a time: each frame is processed before the next leaves, so the order holds.
            Shell.WaitFor(() => Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Total).packets, n => n >= _sent, $"frame {_sent}");
        }
    }

    [Fact]
    public void Should_track_802_1Q_and_QinQ_flows_under_their_outer_VLAN_id()
    {
        var src = IPAddress.Parse("10.77.0.9");
        var dst = IPAddress.Parse("10.77.0.10");
        Send(7, Frames.Udp4(src, 1111, dst, 2222, 100, (0x8100, 100)));
        Send(3, Frames.Udp4(src, 1111, dst, 2222, 100, (0x88A8, 200), (0x8100, 300)));
        Send(2, Frames.Udp4(src, 1111, dst, 2222, 100));

        var flows = Maps.Flows(_tracker);
        ulong Packets(ushort vlan) => flows.Where(f => f.Key.vlan_id == vlan && f.Key.proto == 17)
            .Select(f => f.Value.side_a.packets + f.Value.side_b.packets).Single();
        Assert.Equal(7ul, Packets(100));
        Assert.Equal(3ul, Packets(200));
        Assert.Equal(2ul, Packets(0));
        Assert.Equal(10ul, Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Vlan).packets);
        var tagged = flows.Single(f => f.Key.vlan_id == 100);
        Assert.Equal(100ul * 7, tagged.Value.side_a.payload_bytes + tagged.Value.side_b.payload_bytes);
    }

    [Fact]
    public void Should_count_retransmissions_gaps_duplicate_ACKs_and_zero_windows()
    {
        var c = IPAddress.Parse("10.77.1.1");
        var s = IPAddress.Parse("10.77.1.2");
        byte[] FromClient(uint seq, byte flags, int payload) => Frames.Tcp4(c, 5000, s, 80, seq, 5001, flags, 500, payload);
        byte[] FromServer(uint ack, byte flags, ushort window) => Frames.Tcp4(s, 80, c, 5000, 5001, ack, flags, window, 0);

        Send(
            Frames.Tcp4(c, 5000, s, 80, 1000, 0, SYN, 500, 0),
            Frames.Tcp4(s, 80, c, 5000, 5000, 1001, SYN | ACK, 1000, 0),
            FromClient(1001, ACK, 0),
            FromClient(1001, PSH | ACK, 100),
            FromClient(1101, PSH | ACK, 100),
            FromClient(1001, PSH | ACK, 100), // retransmission of the first segment
            FromClient(1301, PSH | ACK, 100), // 1201-1300 never arrives: a gap
            FromServer(1201, ACK, 1000),
            FromServer(1201, ACK, 1000),      // duplicate ACK
            FromServer(1201, ACK, 1000),      // and another
            FromServer(1201, ACK, 0),         // zero window
            FromClient(1401, FIN | ACK, 0));

        var (key, value) = Assert.Single(Maps.Flows(_tracker), f => f.Key.proto == 6);
        var (orig, reply) = Sides(value);
        Assert.Equal("10.77.1.1", Formatting.Orient(key, value.initiator).Src.ToString());
        Assert.Equal(1u, orig.retransmits);
        Assert.Equal(1u, orig.out_of_order);
        Assert.Equal(400ul, orig.payload_bytes);     // four data segments on the wire
        Assert.Equal(400ul, orig.data_bytes);        // sequence space 1001..1401
        Assert.Equal(0u, orig.dup_acks);
        Assert.Equal(2u, reply.dup_acks);
        Assert.Equal(1u, reply.zero_windows);
        Assert.Equal(0u, reply.retransmits);
        Assert.Equal(1402u, orig.next_seq);
        Assert.Equal(1201u, reply.last_ack);
        Assert.Equal(0, reply.window);
        Assert.Equal(ConnectionState.Closing, Of(key, value));
    }

    [Fact]
    public void Should_read_the_packet_quoted_by_an_ICMP_time_exceeded()
    {
        var host = IPAddress.Parse("10.77.2.1");
        var router = IPAddress.Parse("10.77.2.254");
        var target = IPAddress.Parse("192.0.2.7");
        var probe = Frames.Udp4(host, 40001, target, 33435, 12);
        Send(Frames.Icmp4(router, host, 11, 0, probe.AsSpan(14, 20 + 8)));

        var (key, value) = Assert.Single(Maps.Icmp(_tracker), e => e.Key.type == 11);
        var record = Formatting.Icmp("n", _pair.Receiver, key, value, new Actors.Telemetry.ReadClock(1, 0), 0);
        Assert.Equal("time_exceeded", record.TypeName);
        Assert.Equal(new Messages.IcmpInnerPacket("UDP", "10.77.2.1", 40001, "192.0.2.7", 33435), record.Inner);
        Assert.Empty(Maps.Flows(_tracker)); // an error message is not a flow
    }

    [Fact]
    public void Should_count_broken_headers_as_malformed_and_still_pass_them()
    {
        var good = Frames.Udp4(IPAddress.Parse("10.77.3.1"), 1, IPAddress.Parse("10.77.3.2"), 2, 10);
        var badIhl = (byte[])good.Clone();
        badIhl[14] = 0x44; // IHL 4: shorter than an IPv4 header
        var truncated = good[..(14 + 12)];
        var tcpNoRoom = Frames.Tcp4(IPAddress.Parse("10.77.3.1"), 1, IPAddress.Parse("10.77.3.2"), 2, 1, 0, SYN, 1, 0)[..(14 + 20 + 10)];
        Send(badIhl, truncated, tcpNoRoom);

        Assert.Equal(3ul, Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Malformed).packets);
        Assert.Equal(Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Total).packets, Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Pass).packets);
        Assert.Empty(Maps.Flows(_tracker));
    }
}
