// C# mirrors of bpf/include/conntrack_shared.h. Field names are the C names so the layout test
// (tests/PacketScope.Native.Tests) can compare every sizeof/offsetof against the header.
using System.Runtime.InteropServices;

namespace PacketScope.Native.Shared;

public static class Conntrack
{
    public const string ObjectFile = "conntrack.bpf.o";
    public const string IngressProgram = "ps_xdp_ingress";
    public const string EgressProgram = "ps_tc_egress";
    public const string FlowsMap = "ps_flows";
    public const string IcmpMap = "ps_icmp";
    public const string StatsMap = "ps_stats";
    public const string IcmpHistMap = "ps_icmp_hist";

    public const byte AF_INET = 2;
    public const byte AF_INET6 = 10;
    public const int HookIngress = 0;
    public const int HookEgress = 1;
    public const int HookMax = 2;
    public const uint DefaultMaxFlows = 1_048_576;
    public const uint DefaultMaxIcmp = 65_536;
}

/// <summary>enum ps_stat</summary>
public enum StatId
{
    Total = 0,
    Ipv4,
    Ipv6,
    Arp,
    OtherL3,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    OtherL4,
    Vlan,
    Fragment,
    Malformed,
    FlowNew,
    FlowMapFull,
    IcmpMapFull,
    HistFull,
    IcmpNew,
    Pass,
    Drop,
    Monitor,
    Max,
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct ps_flow_key : IEquatable<ps_flow_key>
{
    public fixed byte addr_a[16];
    public fixed byte addr_b[16];
    public ushort port_a;
    public ushort port_b;
    public ushort vlan_id;
    public byte family;
    public byte proto;

    public readonly bool Equals(ps_flow_key other) => Bytes.Equal(this, other);

    public override readonly bool Equals(object? obj) => obj is ps_flow_key k && Equals(k);

    public override readonly int GetHashCode() => Bytes.Hash(this);
}

[StructLayout(LayoutKind.Sequential)]
public struct ps_flow_side
{
    public ulong packets;
    public ulong bytes;
    public ulong payload_bytes;
    public ulong data_bytes;
    public uint next_seq;
    public uint last_seq;
    public uint last_ack;
    public uint retransmits;
    public uint out_of_order;
    public uint dup_acks;
    public uint zero_windows;
    public ushort window;
    public ushort ip_id;
    public byte ttl;
    public byte tcp_flags;
    public byte hooks;
    public byte seq_valid;
    public uint _pad;
    public ulong filter; // ingress: the Guarder's cached verdict (filter_shared.h)
}

[StructLayout(LayoutKind.Sequential)]
public struct ps_flow_value
{
    public ps_flow_side side_a; // side[0]: sent by endpoint a
    public ps_flow_side side_b; // side[1]: sent by endpoint b
    public ulong first_seen_ns;
    public ulong last_seen_ns;
    public byte initiator;
    private byte _pad0, _pad1, _pad2, _pad3, _pad4, _pad5, _pad6;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct ps_icmp_key : IEquatable<ps_icmp_key>
{
    public fixed byte src[16];
    public fixed byte dst[16];
    public fixed byte inner_src[16];
    public fixed byte inner_dst[16];
    public ushort inner_sport;
    public ushort inner_dport;
    public ushort vlan_id;
    public byte family;
    public byte type;
    public byte code;
    public byte inner_proto;
    public byte hook;
    public byte _pad;

    public readonly bool Equals(ps_icmp_key other) => Bytes.Equal(this, other);

    public override readonly bool Equals(object? obj) => obj is ps_icmp_key k && Equals(k);

    public override readonly int GetHashCode() => Bytes.Hash(this);
}

[StructLayout(LayoutKind.Sequential)]
public struct ps_icmp_value
{
    public ulong packets;
    public ulong bytes;
    public ulong first_seen_ns;
    public ulong last_seen_ns;
    public ushort echo_id;
    public ushort echo_seq;
    public uint _pad;
}

[StructLayout(LayoutKind.Sequential)]
public struct ps_counter
{
    public ulong packets;
    public ulong bytes;
}

[StructLayout(LayoutKind.Sequential)]
public struct ps_icmp_hist_key : IEquatable<ps_icmp_hist_key>
{
    public byte family;
    public byte type;
    public byte code;
    public byte hook;

    public readonly bool Equals(ps_icmp_hist_key o) => family == o.family && type == o.type && code == o.code && hook == o.hook;

    public override readonly bool Equals(object? obj) => obj is ps_icmp_hist_key k && Equals(k);

    public override readonly int GetHashCode() => family | type << 8 | code << 16 | hook << 24;
}

/// <summary>Equality and hashing of a map key as its bytes: the keys are fully initialised, padding included.</summary>
internal static class Bytes
{
    public static bool Equal<T>(in T a, in T b) where T : unmanaged =>
        MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in a)).SequenceEqual(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in b)));

    public static int Hash<T>(in T value) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value));
        var h = new HashCode();
        foreach (var word in MemoryMarshal.Cast<byte, ulong>(bytes))
            h.Add(word);
        foreach (var b in bytes[(bytes.Length & ~7)..])
            h.Add(b);
        return h.ToHashCode();
    }
}
