// What the view keeps of a flow: counters, flags and times, not the TCP sequence state (read from the
// kernel for the flows a query returns). 136 bytes instead of 184, which is 32 MB per million flows.
using System.Runtime.InteropServices;
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Views;

[StructLayout(LayoutKind.Sequential)]
internal struct CompactSide
{
    public ulong Packets, Bytes, PayloadBytes, DataBytes;
    public uint Retransmits, OutOfOrder, DupAcks, ZeroWindows;

    public CompactSide(in ps_flow_side s)
    {
        Packets = s.packets;
        Bytes = s.bytes;
        PayloadBytes = s.payload_bytes;
        DataBytes = s.data_bytes;
        Retransmits = s.retransmits;
        OutOfOrder = s.out_of_order;
        DupAcks = s.dup_acks;
        ZeroWindows = s.zero_windows;
    }

    public readonly ps_flow_side ToSide(byte flags, byte hooks, byte ttl) => new()
    {
        packets = Packets,
        bytes = Bytes,
        payload_bytes = PayloadBytes,
        data_bytes = DataBytes,
        retransmits = Retransmits,
        out_of_order = OutOfOrder,
        dup_acks = DupAcks,
        zero_windows = ZeroWindows,
        tcp_flags = flags,
        hooks = hooks,
        ttl = ttl,
    };
}

[StructLayout(LayoutKind.Sequential)]
internal struct CompactFlow
{
    public CompactSide A, B;
    public ulong FirstSeenNs, LastSeenNs;
    public byte FlagsA, FlagsB, HooksA, HooksB, TtlA, TtlB, Initiator;

    public CompactFlow(in ps_flow_value v)
    {
        A = new CompactSide(v.side_a);
        B = new CompactSide(v.side_b);
        FirstSeenNs = v.first_seen_ns;
        LastSeenNs = v.last_seen_ns;
        FlagsA = v.side_a.tcp_flags;
        FlagsB = v.side_b.tcp_flags;
        HooksA = v.side_a.hooks;
        HooksB = v.side_b.hooks;
        TtlA = v.side_a.ttl;
        TtlB = v.side_b.ttl;
        Initiator = v.initiator;
    }

    public readonly ulong Packets => A.Packets + B.Packets;
    public readonly ulong Bytes => A.Bytes + B.Bytes;

    /// <summary>Just the fields <see cref="Interfaces.FlowState.Of"/> reads.</summary>
    public readonly ps_flow_value Flags() => new()
    {
        side_a = new ps_flow_side { tcp_flags = FlagsA, packets = A.Packets },
        side_b = new ps_flow_side { tcp_flags = FlagsB, packets = B.Packets },
        initiator = Initiator,
    };

    public readonly ps_flow_value ToValue() => new()
    {
        side_a = A.ToSide(FlagsA, HooksA, TtlA),
        side_b = B.ToSide(FlagsB, HooksB, TtlB),
        first_seen_ns = FirstSeenNs,
        last_seen_ns = LastSeenNs,
        initiator = Initiator,
    };
}
