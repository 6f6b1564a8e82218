// ICMP/ICMPv6 message records and their query.
namespace PacketScope.Messages;

public sealed record IcmpQuery(int Limit = 100, string? Address = null, int? Type = null, string? Interface = null, string? Family = null);

public sealed record GetIcmp(IcmpQuery Query) : IPacketScopeMessage;

public sealed record IcmpResponse(long Total, IReadOnlyList<IcmpRecord> Messages) : IPacketScopeMessage;

/// <summary>The packet quoted inside an ICMP error message.</summary>
public sealed record IcmpInnerPacket(string Protocol, string Src, int SrcPort, string Dst, int DstPort);

public sealed record IcmpRecord(
    string Node,
    string Interface,
    string Direction,
    string Family,
    int Type,
    int Code,
    string TypeName,
    bool IsError,
    string Src,
    string Dst,
    int VlanId,
    ulong Packets,
    ulong Bytes,
    double PacketsPerSecond,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    int? EchoId,
    int? EchoSeq,
    IcmpInnerPacket? Inner,
    string Key,
    string Info);
