// Connection state and orientation from the flags each side sent.
using PacketScope.Actors.Interfaces;
using PacketScope.Actors.Views;
using PacketScope.Native.Shared;
using Xunit;
using static PacketScope.Actors.Interfaces.FlowState;

namespace PacketScope.Actors.Tests;

public sealed class FlowStateSpecs
{
    private static readonly ps_flow_key Tcp = Flows.Key("10.0.0.1", 40000, "10.0.0.2", 80);

    [Theory]
    [InlineData(SYN, 0, ConnectionState.SynSent)]
    [InlineData(SYN, SYN | ACK, ConnectionState.SynReceived)]
    [InlineData(SYN | ACK, SYN | ACK, ConnectionState.Established)]
    [InlineData(ACK | PSH, ACK, ConnectionState.Established)] // picked up mid-stream
    [InlineData(SYN | ACK | FIN, SYN | ACK, ConnectionState.Closing)]
    [InlineData(SYN | ACK | FIN, SYN | ACK | FIN, ConnectionState.Closed)]
    [InlineData(SYN, RST | ACK, ConnectionState.Reset)]
    public void Should_derive_the_TCP_state_from_the_flags_each_side_sent(int orig, int reply, ConnectionState expected)
    {
        var v = Flows.Value(1, flagsA: (byte)orig, flagsB: (byte)reply);
        Assert.Equal(expected, Of(Tcp, v));
    }

    [Fact]
    public void Should_say_whether_a_UDP_flow_was_answered()
    {
        var udp = Flows.Key("10.0.0.1", 5353, "10.0.0.2", 53, proto: 17);
        Assert.Equal(ConnectionState.Unreplied, Of(udp, Flows.Value(1, packetsB: 0)));
        Assert.Equal(ConnectionState.Replied, Of(udp, Flows.Value(1, packetsB: 1)));
    }

    [Fact]
    public void Should_orient_src_as_the_side_that_opened_the_connection()
    {
        // b (10.0.0.2:80) opened it: initiator = 1, so Src is b and Orig counts what b sent.
        var v = Flows.Value(1, packetsA: 3, bytesA: 300, packetsB: 5, bytesB: 500, flagsA: SYN | ACK, flagsB: SYN, initiator: 1);
        var record = Formatting.Flow("n", "eth0", Tcp, v, new Telemetry.ReadClock(2, 0), 0, 0);
        Assert.Equal("10.0.0.2", record.Src);
        Assert.Equal(80, record.SrcPort);
        Assert.Equal("10.0.0.1", record.Dst);
        Assert.Equal(5ul, record.Orig.Packets);
        Assert.Equal(3ul, record.Reply.Packets);
        Assert.Equal("10.0.0.2:80 -> 10.0.0.1:40000 (TCP)", record.Key);
        Assert.StartsWith("Packets: 8, Bytes: 800, TCP Flags: 18", record.Info);
        Assert.Equal(["SYN"], record.Orig.TcpFlagNames);
    }

    [Fact]
    public void Should_write_IPv6_endpoints_in_brackets()
    {
        var k = Flows.Key("fd00::1", 5000, "fd00::2", 53, proto: 17);
        var record = Formatting.Flow("n", "eth0", k, Flows.Value(1), new Telemetry.ReadClock(2, 0), 0, 0);
        Assert.Equal("[fd00::1]:5000 -> [fd00::2]:53 (UDP)", record.Key);
        Assert.Equal("ipv6", record.Family);
    }

    [Fact]
    public void Should_expire_finished_connections_sooner_than_live_ones()
    {
        var settings = new ConntrackSettings("n", TimeSpan.FromSeconds(1), Native.XdpMode.Auto, 1024, 1024, "x",
            FlowIdleTimeout: TimeSpan.FromSeconds(120), ClosedFlowTimeout: TimeSpan.FromSeconds(10));
        const ulong s = 1_000_000_000;
        var closed = Flows.Value(100 * s, flagsA: SYN | ACK | FIN, flagsB: SYN | ACK | FIN);
        var open = Flows.Value(100 * s, flagsA: SYN | ACK, flagsB: SYN | ACK);
        Assert.False(IsIdle(Tcp, closed, 109 * s, settings));
        Assert.True(IsIdle(Tcp, closed, 111 * s, settings));
        Assert.False(IsIdle(Tcp, open, 111 * s, settings));
        Assert.True(IsIdle(Tcp, open, 221 * s, settings));
    }
}
