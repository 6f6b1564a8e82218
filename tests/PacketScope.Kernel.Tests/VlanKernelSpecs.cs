// VLAN-tagged flows: frames crafted with 802.1Q and QinQ tags, sent for real out of a veth with BPF_PROG_RUN live frames.
using System.Net;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Native;
using PacketScope.Native.Shared;
using Xunit;
using PacketScope.Testing;

namespace PacketScope.Kernel.Tests;

public sealed class VlanKernelSpecs
{
    [Fact]
    public void Should_track_802_1Q_and_QinQ_flows_under_their_outer_VLAN_id()
    {
        using var pair = VethPair.Create();
        using var tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: 4096, maxIcmp: 1024);
        tracker.Attach(pair.Receiver, NetInterface.IndexOf(pair.Receiver), XdpMode.Native);
        using var sender = BpfObject.Open(System.IO.Path.Combine(AppContext.BaseDirectory, "bpf", "bench_tx.bpf.o"));
        sender.Load();
        var tx = sender.Program("ps_xdp_tx");
        var senderIndex = NetInterface.IndexOf(pair.Sender);

        var src = IPAddress.Parse("10.77.0.9");
        var dst = IPAddress.Parse("10.77.0.10");
        ProgramTestRun.SendLiveFrames(tx, senderIndex, Frames.Udp4(src, 1111, dst, 2222, 100, (0x8100, 100)), 7);
        ProgramTestRun.SendLiveFrames(tx, senderIndex, Frames.Udp4(src, 1111, dst, 2222, 100, (0x88A8, 200), (0x8100, 300)), 3);
        ProgramTestRun.SendLiveFrames(tx, senderIndex, Frames.Udp4(src, 1111, dst, 2222, 100), 2);

        var flows = Shell.WaitFor(() => Fixtures.Maps.Flows(tracker), f => f.Sum(x => (long)(x.Value.side_a.packets + x.Value.side_b.packets)) >= 12,
            "12 packets in the flow map");
        ulong Packets(ushort vlan) => flows.Where(f => f.Key.vlan_id == vlan && f.Key.proto == 17)
            .Select(f => f.Value.side_a.packets + f.Value.side_b.packets).Single();
        Assert.Equal(7ul, Packets(100));
        Assert.Equal(3ul, Packets(200));
        Assert.Equal(2ul, Packets(0));
        Assert.Equal(10ul, Fixtures.Maps.Stat(tracker, Conntrack.HookIngress, StatId.Vlan).packets);
        var tagged = flows.Single(f => f.Key.vlan_id == 100);
        Assert.Equal(2222, tagged.Key.port_b == 2222 ? tagged.Key.port_b : tagged.Key.port_a);
        Assert.Equal(100ul * 7, tagged.Value.side_a.payload_bytes + tagged.Value.side_b.payload_bytes);
    }

    [Fact]
    public void Should_read_the_rx_vlan_offload_flag_the_way_ethtool_reports_it()
    {
        using var pair = VethPair.Create();
        Assert.Null(NetInterface.StripsVlanOnReceive("psnosuch0"));
        Assert.False(NetInterface.StripsVlanOnReceive("lo")); // loopback: rx-vlan-offload off [fixed]
        var veth = NetInterface.StripsVlanOnReceive(pair.Receiver);
        Assert.NotNull(veth);
        Assert.Contains($"rx-vlan-offload: {(veth == true ? "on" : "off")}", Shell.Run("ethtool", "-k", pair.Receiver));
    }
}
