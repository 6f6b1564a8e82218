// The tracker in the kernel: real BPF objects on a veth pair, real packets, real maps.
using System.Net;
using System.Net.Sockets;
using PacketScope.Actors.Interfaces;
using PacketScope.Actors.Views;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Native;
using PacketScope.Native.Shared;
using Xunit;
using PacketScope.Testing;

namespace PacketScope.Kernel.Tests;

public sealed class ConntrackKernelSpecs : IDisposable
{
    private readonly VethNamespace _ns = VethNamespace.Create();
    private readonly ConntrackProgram _tracker;

    public ConntrackKernelSpecs()
    {
        _tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: 65_536, maxIcmp: 4_096);
        _tracker.Attach(_ns.HostInterface, _ns.HostIndex, XdpMode.Native);
    }

    public void Dispose()
    {
        _tracker.Dispose();
        _ns.Dispose();
    }

    private static (string Src, int SrcPort, string Dst, int DstPort) Endpoints(in ps_flow_key k, in ps_flow_value v)
    {
        var (src, sport, dst, dport) = Formatting.Orient(k, v.initiator);
        return (src.ToString(), sport, dst.ToString(), dport);
    }

    private static TcpListener Listen(IPAddress address, out int port)
    {
        var listener = new TcpListener(address, 0);
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
        return listener;
    }

    private (ps_flow_key Key, ps_flow_value Value) WaitForClosedTcpFlow() => Shell.WaitFor(
        () => Maps.Flows(_tracker).SingleOrDefault(f => f.Key.proto == 6),
        f => f.Value.first_seen_ns != 0 && FlowState.Of(f.Key, f.Value) == ConnectionState.Closed,
        "the TCP flow to close");

    private List<(ps_icmp_key Key, ps_icmp_value Value)> Icmp(int type, int hook) =>
        Maps.Icmp(_tracker).Where(e => e.Key.type == type && e.Key.hook == hook).ToList();

    [Fact]
    public void Should_count_exactly_N_echo_requests_and_N_replies()
    {
        const int n = 5;
        _ns.Ping(n);

        var requests = Assert.Single(Icmp(8, Conntrack.HookEgress));
        var replies = Assert.Single(Icmp(0, Conntrack.HookIngress));
        Assert.Equal((ulong)n, requests.Value.packets);
        Assert.Equal((ulong)n, replies.Value.packets);
        Assert.Equal(n, requests.Value.echo_seq); // ping numbers from 1
        Assert.Equal(requests.Value.echo_id, replies.Value.echo_id);

        // One flow for the echo exchange, opened by us, n packets each way.
        var flow = Assert.Single(Maps.Flows(_tracker), f => f.Key.proto == 1);
        var (orig, reply) = FlowState.Sides(flow.Value);
        Assert.Equal((ulong)n, orig.packets);
        Assert.Equal((ulong)n, reply.packets);
        var (src, _, dst, _) = Endpoints(flow.Key, flow.Value);
        Assert.Equal((_ns.HostAddress.ToString(), _ns.PeerAddress.ToString()), (src, dst));
        Assert.Equal(1 << Conntrack.HookEgress, orig.hooks);
        Assert.Equal(1 << Conntrack.HookIngress, reply.hooks);
    }

    [Fact]
    public async Task Should_track_a_TCP_transfer_with_its_bytes_per_direction_its_flags_and_a_closed_state()
    {
        const int size = 300_000;
        using var listener = Listen(_ns.HostAddress, out var port);
        var server = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            var buffer = new byte[65536];
            long total = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
                total += read;
            return total;
        });
        _ns.InNamespace("bash", "-c", $"head -c {size} /dev/zero > /dev/tcp/{_ns.HostAddress}/{port}");
        Assert.Equal(size, await server.WaitAsync(TimeSpan.FromSeconds(10)));

        var (key, value) = WaitForClosedTcpFlow();
        var (src, sport, dst, dport) = Endpoints(key, value);
        Assert.Equal(_ns.PeerAddress.ToString(), src); // the client in the namespace opened it
        Assert.Equal(_ns.HostAddress.ToString(), dst);
        Assert.Equal(port, dport);
        Assert.NotEqual(0, sport);

        var (orig, reply) = FlowState.Sides(value);
        // Exactly the bytes sent as new data; on the wire, plus whatever a veth drop made TCP retransmit.
        Assert.Equal((ulong)size, orig.data_bytes);
        Assert.Equal(0ul, reply.data_bytes);
        Assert.Equal(0ul, reply.payload_bytes);
        Assert.True(orig.payload_bytes == size || orig.retransmits > 0, $"payload {orig.payload_bytes} with no retransmission");
        Assert.InRange(orig.bytes - orig.payload_bytes, orig.packets * 54, orig.packets * (14 + 60 + 60));
        Assert.Equal(FlowState.SYN | FlowState.ACK | FlowState.FIN, orig.tcp_flags & (FlowState.SYN | FlowState.ACK | FlowState.FIN | FlowState.RST));
        Assert.Equal(FlowState.SYN | FlowState.ACK | FlowState.FIN, reply.tcp_flags & (FlowState.SYN | FlowState.ACK | FlowState.FIN | FlowState.RST));
        Assert.Equal(64, orig.ttl);
        Assert.Equal(1 << Conntrack.HookIngress, orig.hooks);
        Assert.Equal(1 << Conntrack.HookEgress, reply.hooks);
        Assert.True(value.first_seen_ns <= value.last_seen_ns);
        Assert.InRange((DateTimeOffset.UtcNow - MonotonicClock.ToWallClock(value.last_seen_ns, MonotonicClock.RealtimeOffsetNs())).TotalSeconds, 0, 15);
    }

    [Fact]
    public async Task Should_count_data_the_host_sends_in_large_GSO_segments_on_egress()
    {
        // Locally sent TCP leaves as non-linear GSO skbs that keep only their headers linear.
        const int size = 2_000_000;
        using var listener = Listen(_ns.HostAddress, out var port);
        var server = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            await stream.WriteAsync(new byte[size]);
            client.Client.Shutdown(SocketShutdown.Send);
            _ = await stream.ReadAsync(new byte[1]); // until the client closes: 0 bytes
        });
        _ns.InNamespace("bash", "-c", $"cat < /dev/tcp/{_ns.HostAddress}/{port} > /dev/null");
        await server.WaitAsync(TimeSpan.FromSeconds(10));

        var (key, value) = WaitForClosedTcpFlow();
        var (_, reply) = FlowState.Sides(value);
        Assert.Equal((ulong)size, reply.data_bytes);
        Assert.True(reply.packets >= size / 1500, $"{reply.packets} segments"); // every MSS-sized segment, not one per GSO skb
        Assert.Equal(1 << Conntrack.HookEgress, reply.hooks);
        Assert.Equal(0ul, Maps.Stat(_tracker, Conntrack.HookEgress, StatId.Malformed).packets);
        _ = key;
    }

    [Fact]
    public void Should_read_the_inner_ports_of_a_port_unreachable_for_UDP()
    {
        using var udp = new UdpClient(new IPEndPoint(_ns.HostAddress, 0));
        var localPort = ((IPEndPoint)udp.Client.LocalEndPoint!).Port;
        udp.Send(new byte[32], 32, new IPEndPoint(_ns.PeerAddress, 33434));

        var (key, value) = Shell.WaitFor(
            () => Icmp(3, Conntrack.HookIngress).SingleOrDefault(), e => e.Value.packets > 0, "an ICMP port unreachable");
        var record = Formatting.Icmp("n", _ns.HostInterface, key, value, new Actors.Telemetry.ReadClock(1, 0), 0);
        Assert.Equal(3, record.Code); // port unreachable
        Assert.Equal(_ns.PeerAddress.ToString(), record.Src);
        Assert.True(record.IsError);
        Assert.NotNull(record.Inner);
        Assert.Equal(new Messages.IcmpInnerPacket("UDP", _ns.HostAddress.ToString(), localPort, _ns.PeerAddress.ToString(), 33434), record.Inner);
        Assert.Equal(1ul, value.packets);
    }

    [Fact]
    public void Should_read_the_inner_ports_of_an_ICMPv6_port_unreachable()
    {
        using var udp = new UdpClient(new IPEndPoint(_ns.HostAddress6, 0));
        var localPort = ((IPEndPoint)udp.Client.LocalEndPoint!).Port;
        udp.Send(new byte[16], 16, new IPEndPoint(_ns.PeerAddress6, 33434));

        var (key, value) = Shell.WaitFor(
            () => Maps.Icmp(_tracker).SingleOrDefault(e => e.Key.family == Conntrack.AF_INET6 && e.Key.type == 1),
            e => e.Value.packets > 0, "an ICMPv6 destination unreachable");
        var record = Formatting.Icmp("n", _ns.HostInterface, key, value, new Actors.Telemetry.ReadClock(1, 0), 0);
        Assert.Equal(4, record.Code); // port unreachable
        Assert.Equal("ingress", record.Direction);
        Assert.Equal(new Messages.IcmpInnerPacket("UDP", _ns.HostAddress6.ToString(), localPort, _ns.PeerAddress6.ToString(), 33434), record.Inner);
    }

    [Fact]
    public async Task Should_track_IPv6_echo_and_a_TCP_connection()
    {
        _ns.Ping(3, ipv6: true);
        var requests = Assert.Single(Maps.Icmp(_tracker), e => e.Key.family == Conntrack.AF_INET6 && e.Key.type == 128 && e.Key.hook == Conntrack.HookEgress);
        var replies = Assert.Single(Maps.Icmp(_tracker), e => e.Key.family == Conntrack.AF_INET6 && e.Key.type == 129 && e.Key.hook == Conntrack.HookIngress);
        Assert.Equal(3ul, requests.Value.packets);
        Assert.Equal(3ul, replies.Value.packets);

        using var listener = Listen(_ns.HostAddress6, out var port);
        var accepted = listener.AcceptTcpClientAsync();
        _ns.InNamespace("bash", "-c", $"printf hello > /dev/tcp/{_ns.HostAddress6}/{port}");
        using var conn = await accepted.WaitAsync(TimeSpan.FromSeconds(10));
        var (k, v) = Shell.WaitFor(
            () => Maps.Flows(_tracker).SingleOrDefault(f => f.Key.family == Conntrack.AF_INET6 && f.Key.proto == 6),
            f => FlowState.Sides(f.Value).Orig.payload_bytes == 5, "the IPv6 TCP flow");
        var (src, _, dst, dport) = Endpoints(k, v);
        Assert.Equal(_ns.PeerAddress6.ToString(), src);
        Assert.Equal(_ns.HostAddress6.ToString(), dst);
        Assert.Equal(port, dport);
        Assert.Equal(64, FlowState.Sides(v).Orig.ttl); // hop limit
    }

    [Fact]
    public void Should_count_protocols_per_hook_in_the_per_cpu_stats()
    {
        var before = Maps.Stat(_tracker, Conntrack.HookEgress, StatId.Icmp).packets;
        _ns.Ping(4);
        Assert.Equal(before + 4, Maps.Stat(_tracker, Conntrack.HookEgress, StatId.Icmp).packets);
        Assert.True(Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Icmp).packets >= 4);
        Assert.True(Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Total).packets >= 4);
        Assert.True(Maps.Stat(_tracker, Conntrack.HookEgress, StatId.Ipv4).bytes >= 4 * 98);
        Assert.True(Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Pass).packets >= 4);
        Assert.Equal(0ul, Maps.Stat(_tracker, Conntrack.HookIngress, StatId.Malformed).packets);
        Assert.Equal(0ul, Maps.Stat(_tracker, Conntrack.HookIngress, StatId.FlowMapFull).packets);
    }

    [Fact]
    public void Should_leave_no_XDP_or_TC_program_on_the_interface_once_disposed()
    {
        Assert.NotEqual(0u, NetInterface.XdpProgramId(_ns.HostIndex));
        Assert.Single(NetInterface.TcxProgramIds(_ns.HostIndex, BpfAttachKind.TcxEgress));
        _tracker.Dispose();
        Assert.Equal(0u, NetInterface.XdpProgramId(_ns.HostIndex));
        Assert.Empty(NetInterface.TcxProgramIds(_ns.HostIndex, BpfAttachKind.TcxEgress));
    }
}
