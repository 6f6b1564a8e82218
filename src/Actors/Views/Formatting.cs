// Turns kernel structs into the API's records: addresses, orientation, state, the seed's key/info strings.
using System.Globalization;
using System.Net;
using PacketScope.Actors.Interfaces;
using PacketScope.Messages;
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Views;

public static unsafe class Formatting
{
    public static IPAddress Address(byte* bytes, byte family) =>
        family == Conntrack.AF_INET6
            ? new IPAddress(new ReadOnlySpan<byte>(bytes, 16))
            : new IPAddress(new ReadOnlySpan<byte>(bytes, 4));

    public static string ProtocolName(byte proto) => proto switch
    {
        1 => "ICMP",
        6 => "TCP",
        17 => "UDP",
        58 => "ICMPv6",
        47 => "GRE",
        50 => "ESP",
        132 => "SCTP",
        _ => proto.ToString(CultureInfo.InvariantCulture),
    };

    public static string FamilyName(byte family) => family == Conntrack.AF_INET6 ? "ipv6" : "ipv4";

    public static string Endpoint(IPAddress address, int port) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";

    public static string Iso(DateTimeOffset t) => t.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    /// <summary>Src/Dst oriented by who opened the connection.</summary>
    public static (IPAddress Src, int SrcPort, IPAddress Dst, int DstPort) Orient(in ps_flow_key key, byte initiator)
    {
        fixed (byte* a = key.addr_a)
        fixed (byte* b = key.addr_b)
        {
            var ea = (Address(a, key.family), (int)key.port_a);
            var eb = (Address(b, key.family), (int)key.port_b);
            return initiator == 0 ? (ea.Item1, ea.Item2, eb.Item1, eb.Item2) : (eb.Item1, eb.Item2, ea.Item1, ea.Item2);
        }
    }

    public static FlowDirection Direction(in ps_flow_side s) => new(
        s.packets, s.bytes, s.payload_bytes, s.data_bytes, s.tcp_flags, FlowState.FlagNames(s.tcp_flags),
        s.last_seq, s.last_ack, s.window, s.ip_id, s.ttl, s.retransmits, s.out_of_order, s.dup_acks, s.zero_windows);

    public static FlowRecord Flow(string node, string iface, in ps_flow_key key, in ps_flow_value value,
        Telemetry.ReadClock clock, double pps, double bps)
    {
        var (src, sport, dst, dport) = Orient(key, value.initiator);
        var (orig, reply) = FlowState.Sides(value);
        var proto = ProtocolName(key.proto);
        var state = FlowState.Name(FlowState.Of(key, value));
        var lastSeen = clock.ToWallClock(value.last_seen_ns);
        var packets = orig.packets + reply.packets;
        var bytes = orig.bytes + reply.bytes;
        var keyText = $"{Endpoint(src, sport)} -> {Endpoint(dst, dport)} ({proto})";
        var info = key.proto == FlowState.ProtoTcp
            ? $"Packets: {packets}, Bytes: {bytes}, TCP Flags: {orig.tcp_flags | reply.tcp_flags}, Seq: {orig.last_seq}, Ack: {orig.last_ack}, State: {state}, Last Seen: {Iso(lastSeen)}"
            : $"Packets: {packets}, Bytes: {bytes}, IP ID: {orig.ip_id}, Last Seen: {Iso(lastSeen)}";
        return new FlowRecord(node, iface, proto, FamilyName(key.family), key.vlan_id,
            src.ToString(), sport, dst.ToString(), dport, state,
            Direction(orig), Direction(reply), packets, bytes,
            clock.ToWallClock(value.first_seen_ns), lastSeen, pps, bps, keyText, info);
    }

    public static IcmpRecord Icmp(string node, string iface, in ps_icmp_key key, in ps_icmp_value value, Telemetry.ReadClock clock, double pps)
    {
        IPAddress src, dst;
        IcmpInnerPacket? inner = null;
        fixed (byte* s = key.src)
        fixed (byte* d = key.dst)
        fixed (byte* isrc = key.inner_src)
        fixed (byte* idst = key.inner_dst)
        {
            src = Address(s, key.family);
            dst = Address(d, key.family);
            if (key.inner_proto != 0)
                inner = new IcmpInnerPacket(ProtocolName(key.inner_proto),
                    Address(isrc, key.family).ToString(), key.inner_sport,
                    Address(idst, key.family).ToString(), key.inner_dport);
        }
        var isEcho = IcmpNames.IsEcho(key.family, key.type);
        var typeName = IcmpNames.TypeName(key.family, key.type);
        var proto = key.family == Conntrack.AF_INET6 ? "ICMPv6" : "ICMP";
        var lastSeen = clock.ToWallClock(value.last_seen_ns);
        var keyText = $"{src} -> {dst} ({proto} type {key.type} code {key.code})";
        var info = $"Type: {typeName}, Packets: {value.packets}, Bytes: {value.bytes}, Last Seen: {Iso(lastSeen)}"
            + (inner is null ? "" : $", Inner: {inner.Src}:{inner.SrcPort} -> {inner.Dst}:{inner.DstPort} ({inner.Protocol})");
        return new IcmpRecord(node, iface, key.hook == Conntrack.HookIngress ? "ingress" : "egress",
            FamilyName(key.family), key.type, key.code, typeName, IcmpNames.IsError(key.family, key.type),
            src.ToString(), dst.ToString(), key.vlan_id, value.packets, value.bytes, pps,
            clock.ToWallClock(value.first_seen_ns), lastSeen,
            isEcho ? value.echo_id : null, isEcho ? value.echo_seq : null, inner, keyText, info);
    }
}
