// Connection state and orientation derived from what the kernel recorded for a flow.
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Interfaces;

public enum ConnectionState
{
    /// <summary>Non-TCP flow with traffic from one side only.</summary>
    Unreplied,
    /// <summary>Non-TCP flow with traffic from both sides.</summary>
    Replied,
    SynSent,
    SynReceived,
    Established,
    Closing,
    Closed,
    Reset,
}

public static class FlowState
{
    public const byte FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20, ECE = 0x40, CWR = 0x80;
    public const byte ProtoTcp = 6;

    /// <summary>The originator's side (what Src sent) and the responder's side.</summary>
    public static (ps_flow_side Orig, ps_flow_side Reply) Sides(in ps_flow_value v) =>
        v.initiator == 0 ? (v.side_a, v.side_b) : (v.side_b, v.side_a);

    public static ConnectionState Of(in ps_flow_key key, in ps_flow_value value)
    {
        var (orig, reply) = Sides(value);
        if (key.proto != ProtoTcp)
            return reply.packets > 0 ? ConnectionState.Replied : ConnectionState.Unreplied;
        var o = orig.tcp_flags;
        var r = reply.tcp_flags;
        if (((o | r) & RST) != 0)
            return ConnectionState.Reset;
        if ((o & FIN) != 0 && (r & FIN) != 0)
            return ConnectionState.Closed;
        if (((o | r) & FIN) != 0)
            return ConnectionState.Closing;
        if ((o & SYN) != 0 && (r & SYN) == 0)
            return ConnectionState.SynSent;
        if ((r & SYN) != 0 && (o & ACK) == 0)
            return ConnectionState.SynReceived;
        // Handshake complete, or picked up mid-stream (no SYN seen at all).
        return ConnectionState.Established;
    }

    public static bool IsFinished(ConnectionState state) => state is ConnectionState.Closed or ConnectionState.Reset;

    public static string Name(ConnectionState state) => state switch
    {
        ConnectionState.SynSent => "syn_sent",
        ConnectionState.SynReceived => "syn_received",
        _ => state.ToString().ToLowerInvariant(),
    };

    public static IReadOnlyList<string> FlagNames(byte flags)
    {
        var names = new List<string>(8);
        if ((flags & FIN) != 0) names.Add("FIN");
        if ((flags & SYN) != 0) names.Add("SYN");
        if ((flags & RST) != 0) names.Add("RST");
        if ((flags & PSH) != 0) names.Add("PSH");
        if ((flags & ACK) != 0) names.Add("ACK");
        if ((flags & URG) != 0) names.Add("URG");
        if ((flags & ECE) != 0) names.Add("ECE");
        if ((flags & CWR) != 0) names.Add("CWR");
        return names;
    }

    /// <summary>Idle past its timeout: finished TCP connections leave sooner than live ones.</summary>
    public static bool IsIdle(in ps_flow_key key, in ps_flow_value value, ulong nowNs, ConntrackSettings settings)
    {
        var idleNs = nowNs > value.last_seen_ns ? nowNs - value.last_seen_ns : 0;
        // Most flows are recent: decide those without deriving the state (this runs per flow per read).
        if (idleNs <= (ulong)Math.Min(settings.ClosedFlowTimeout.Ticks, settings.FlowIdleTimeout.Ticks) * 100)
            return false;
        var limit = IsFinished(Of(key, value)) ? settings.ClosedFlowTimeout : settings.FlowIdleTimeout;
        return idleNs > (ulong)limit.Ticks * 100;
    }
}
