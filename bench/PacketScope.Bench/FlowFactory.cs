// A million distinct, plausible flows: clients in 10.0.0.0/8 (and fd00::/8) with ~50 connections
// each to a few thousand servers on common ports; established TCP and replied UDP, all recently
// active (so the reader's idle timeout keeps them), deterministic for a given seed.
using PacketScope.Actors.Interfaces;
using PacketScope.Native.Shared;

namespace PacketScope.Bench;

internal static unsafe class FlowFactory
{
    private const int FlowsPerClient = 50;
    private static readonly ushort[] TcpPorts = [443, 443, 443, 80, 22, 5432, 6379, 8080, 8443, 3306];
    private static readonly ushort[] UdpPorts = [53, 53, 123, 443, 4789, 5353];

    /// <summary>Fills keys/values for flows [first, first + keys.Length).</summary>
    public static void Fill(int first, Span<ps_flow_key> keys, Span<ps_flow_value> values, ulong nowNs)
    {
        Span<byte> c = stackalloc byte[16], s = stackalloc byte[16];
        for (var j = 0; j < keys.Length; j++)
        {
            var i = first + j;
            var rng = new Random(i); // per flow: any chunking gives the same flows
            var client = i / FlowsPerClient;
            var ipv6 = client % 7 == 0;
            var tcp = rng.Next(100) < 75;
            var server = rng.Next(4000);
            var serverPort = tcp ? TcpPorts[rng.Next(TcpPorts.Length)] : UdpPorts[rng.Next(UdpPorts.Length)];
            // Distinct within a client: 523 * 49 < 28232, so no two of its flows share a port.
            var clientPort = (ushort)(32768 + (i % FlowsPerClient * 523 + client * 7) % 28232);

            var key = new ps_flow_key { family = ipv6 ? Conntrack.AF_INET6 : Conntrack.AF_INET, proto = tcp ? FlowState.ProtoTcp : (byte)17 };
            c.Clear();
            s.Clear();
            if (ipv6)
            {
                c[0] = 0xfd; c[1] = 0x10; c[12] = (byte)(client >> 24); c[13] = (byte)(client >> 16); c[14] = (byte)(client >> 8); c[15] = (byte)client;
                s[0] = 0xfd; s[1] = 0x20; s[14] = (byte)(server >> 8); s[15] = (byte)server;
            }
            else
            {
                c[0] = 10; c[1] = (byte)(client >> 16); c[2] = (byte)(client >> 8); c[3] = (byte)client;
                s[0] = 172; s[1] = 16; s[2] = (byte)(server >> 8); s[3] = (byte)server;
            }
            // The kernel orders a flow's endpoints by (address, port) so both directions share one key.
            var clientIsA = c.SequenceCompareTo(s) < 0;
            var a = clientIsA ? c : s;
            var b = clientIsA ? s : c;
            a.CopyTo(new Span<byte>(key.addr_a, 16));
            b.CopyTo(new Span<byte>(key.addr_b, 16));
            key.port_a = clientIsA ? clientPort : serverPort;
            key.port_b = clientIsA ? serverPort : clientPort;
            keys[j] = key;

            var requests = (ulong)rng.Next(1, 2000);
            var replies = (ulong)rng.Next(1, 4000);
            var orig = Side(requests, requests * (ulong)rng.Next(60, 400), tcp, rng);
            var reply = Side(replies, replies * (ulong)rng.Next(60, 1500), tcp, rng);
            values[j] = new ps_flow_value
            {
                side_a = clientIsA ? orig : reply,
                side_b = clientIsA ? reply : orig,
                initiator = clientIsA ? (byte)0 : (byte)1,
                first_seen_ns = nowNs - (ulong)rng.NextInt64(1_000_000_000L, 600_000_000_000L),
                // At most 10 s ago: well inside the 120 s idle timeout for the whole benchmark.
                last_seen_ns = nowNs - (ulong)rng.NextInt64(0, 10_000_000_000L),
            };
        }
    }

    private static ps_flow_side Side(ulong packets, ulong bytes, bool tcp, Random rng) => new()
    {
        packets = packets,
        bytes = bytes,
        payload_bytes = bytes - packets * 40,
        data_bytes = tcp ? bytes - packets * 52 : 0,
        next_seq = tcp ? (uint)rng.Next() : 0,
        last_seq = tcp ? (uint)rng.Next() : 0,
        last_ack = tcp ? (uint)rng.Next() : 0,
        retransmits = tcp ? (uint)rng.Next(3) : 0,
        window = tcp ? (ushort)rng.Next(1000, 65535) : (ushort)0,
        ip_id = (ushort)rng.Next(65536),
        ttl = 64,
        tcp_flags = tcp ? (byte)(FlowState.SYN | FlowState.ACK | FlowState.PSH) : (byte)0,
        hooks = 3,
        seq_valid = tcp ? (byte)1 : (byte)0,
    };
}
