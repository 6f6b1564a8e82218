// Node statistics: per hook and protocol counters with rates, ICMP histograms, telemetry losses.
namespace PacketScope.Messages;

public sealed record GetStats : IPacketScopeMessage
{
    public static readonly GetStats Instance = new();
}

public sealed record Counter(ulong Packets, ulong Bytes, double PacketsPerSecond, double BytesPerSecond);

public sealed record IcmpTypeCount(string Family, string Direction, int Type, int Code, string TypeName, ulong Packets, ulong Bytes);

/// <summary>What the telemetry itself lost: entries it could not store, flows the kernel evicted.</summary>
public sealed record TelemetryLosses(ulong FlowMapFull, ulong IcmpMapFull, ulong HistogramFull, ulong FlowsEvicted);

public sealed record FlowTableStats(long Active, ulong Created, ulong Expired, uint Capacity);

public sealed record InterfaceStats(
    string Interface,
    DateTimeOffset UpdatedAt,
    IReadOnlyDictionary<string, Counter> Ingress,
    IReadOnlyDictionary<string, Counter> Egress,
    IReadOnlyList<IcmpTypeCount> IcmpTypes,
    FlowTableStats Flows,
    TelemetryLosses Losses,
    // The XDP mode the interface got: native or generic (auto falls back to generic where the driver refuses native).
    string? XdpMode = null);

public sealed record StatsResponse(string Node, DateTimeOffset Timestamp, IReadOnlyList<InterfaceStats> Interfaces) : IPacketScopeMessage;

public sealed record GetNodeStatus : IPacketScopeMessage
{
    public static readonly GetNodeStatus Instance = new();
}

public sealed record InterfaceStatus(string Interface, int IfIndex, string State, string? XdpMode, string? Error, DateTimeOffset Since);

public sealed record NodeStatus(string Node, bool Ready, IReadOnlyList<InterfaceStatus> Interfaces) : IPacketScopeMessage;
