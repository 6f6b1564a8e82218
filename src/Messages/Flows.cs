// Connection records and the queries over them.
namespace PacketScope.Messages;

public enum ConnectionSort
{
    Bytes,
    Packets,
    LastSeen,
    Rate,
}

/// <summary>A validated connection query; the REST layer builds it and rejects bad input before. Offset skips that many
/// rows of the sorted result (a page: Offset, Limit).</summary>
public sealed record ConnectionQuery(
    int Limit = ConnectionQuery.DefaultLimit,
    ConnectionSort Sort = ConnectionSort.Bytes,
    string? Address = null,
    int? Port = null,
    byte? Protocol = null,
    string? Interface = null,
    string? State = null,
    int Offset = 0)
{
    public const int DefaultLimit = 100;
    /// <summary>The most rows a query reaches: Offset + Limit (each node ranks that many, the asking node merges them).</summary>
    public const int MaxLimit = 100_000;
}

public sealed record GetConnections(ConnectionQuery Query) : IPacketScopeMessage;

/// <summary>Total is the number of flows matching the filters; Connections holds at most Limit of them.</summary>
public sealed record ConnectionsResponse(long Total, IReadOnlyList<FlowRecord> Connections) : IPacketScopeMessage;

/// <summary>What one endpoint of a connection sent.</summary>
public sealed record FlowDirection(
    ulong Packets,
    ulong Bytes,
    ulong PayloadBytes,
    ulong DataBytes,
    int TcpFlags,
    IReadOnlyList<string> TcpFlagNames,
    uint Seq,
    uint Ack,
    int Window,
    int IpId,
    int Ttl,
    uint Retransmits,
    uint OutOfOrder,
    uint DupAcks,
    uint ZeroWindows);

/// <summary>
/// One bidirectional connection. Src is the side that opened it (sent the first packet, or the SYN);
/// Orig counts what Src sent, Reply what Dst sent.
/// </summary>
public sealed record FlowRecord(
    string Node,
    string Interface,
    string Protocol,
    string Family,
    int VlanId,
    string Src,
    int SrcPort,
    string Dst,
    int DstPort,
    string State,
    FlowDirection Orig,
    FlowDirection Reply,
    ulong Packets,
    ulong Bytes,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    double PacketsPerSecond,
    double BytesPerSecond,
    string Key,
    string Info);
