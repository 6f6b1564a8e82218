// Validates query strings into typed queries: every bad or unknown parameter is a 400 naming it.
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Http;
using PacketScope.Messages;

namespace PacketScope.Web.Api;

public static class QueryParser
{
    private static readonly HashSet<string> s_connectionParams = ["limit", "offset", "sort", "address", "port", "protocol", "interface", "state", "node"];
    private static readonly HashSet<string> s_icmpParams = ["limit", "address", "type", "interface", "family", "node"];
    private static readonly HashSet<string> s_statsParams = ["node"];
    private static readonly HashSet<string> s_states = ["unreplied", "replied", "syn_sent", "syn_received", "established", "closing", "closed", "reset"];

    /// <summary>
    /// Interfaces: those the asked node(s) monitor; monitoredBy names them in the error ("this node", "any node of the
    /// cluster", "node 'n2'"). The node parameter is read by <see cref="Node"/>.
    /// </summary>
    public static ConnectionQuery Connections(IQueryCollection query, IReadOnlyCollection<string> interfaces, string monitoredBy = "this node")
    {
        RejectUnknown(query, s_connectionParams);
        var limit = Limit(query);
        var offset = Number(query, "offset", 0, ConnectionQuery.MaxLimit - 1) ?? 0;
        if (offset + limit > ConnectionQuery.MaxLimit)
            throw new BadRequestException("offset", $"offset + limit is {offset + limit}; a query reaches at most row {ConnectionQuery.MaxLimit}");
        return new ConnectionQuery(
            Offset: offset,
            Limit: limit,
            Sort: Single(query, "sort") switch
            {
                null or "bytes" => ConnectionSort.Bytes,
                "packets" => ConnectionSort.Packets,
                "last_seen" => ConnectionSort.LastSeen,
                "rate" => ConnectionSort.Rate,
                var s => throw new BadRequestException("sort", $"'{s}' is not one of bytes, packets, last_seen, rate"),
            },
            Address: Address(query),
            Port: Number(query, "port", 0, 65535),
            Protocol: Single(query, "protocol") is { } p ? Protocol(p) : null,
            Interface: Interface(query, interfaces, monitoredBy),
            State: Single(query, "state") is { } st
                ? s_states.Contains(st) ? st : throw new BadRequestException("state", $"'{st}' is not one of {string.Join(", ", s_states)}")
                : null);
    }

    public static IcmpQuery Icmp(IQueryCollection query, IReadOnlyCollection<string> interfaces, string monitoredBy = "this node")
    {
        RejectUnknown(query, s_icmpParams);
        return new IcmpQuery(
            Limit: Limit(query),
            Address: Address(query),
            Type: Number(query, "type", 0, 255),
            Interface: Interface(query, interfaces, monitoredBy),
            Family: Single(query, "family") switch
            {
                null => null,
                "ipv4" => "ipv4",
                "ipv6" => "ipv6",
                var f => throw new BadRequestException("family", $"'{f}' is not ipv4 or ipv6"),
            });
    }

    /// <summary>/api/stats takes only <c>node</c>; returns it (null: the whole cluster).</summary>
    public static string? Stats(IQueryCollection query)
    {
        RejectUnknown(query, s_statsParams);
        return Node(query);
    }

    /// <summary>The <c>node</c> parameter: one node's name, or null for the whole cluster. Whether a member has it is the caller's check.</summary>
    public static string? Node(IQueryCollection query) => Single(query, "node");

    public static byte Protocol(string text) => text.ToLowerInvariant() switch
    {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" or "ipv6-icmp" => 58,
        var t when AddressParser.TryWholeNumber(t, out var n) && n <= 255 => (byte)n,
        _ => throw new BadRequestException("protocol", $"'{text}' is not tcp, udp, icmp, icmpv6 or a protocol number 0-255"),
    };

    private static void RejectUnknown(IQueryCollection query, HashSet<string> known)
    {
        foreach (var key in query.Keys)
            if (!known.Contains(key))
                throw new BadRequestException(key, $"unknown parameter; known: {string.Join(", ", known)}");
    }

    private static string? Single(IQueryCollection query, string name)
    {
        if (!query.TryGetValue(name, out var values))
            return null;
        if (values.Count != 1)
            throw new BadRequestException(name, "given more than once");
        var v = values[0];
        if (string.IsNullOrWhiteSpace(v))
            throw new BadRequestException(name, "is empty");
        if (v.Any(char.IsControl)) // "1%00" would otherwise read as 1: int.TryParse takes trailing NULs
            throw new BadRequestException(name, "contains a control character");
        return v.Trim();
    }

    private static int Limit(IQueryCollection query) =>
        Number(query, "limit", 1, ConnectionQuery.MaxLimit) ?? ConnectionQuery.DefaultLimit;

    private static int? Number(IQueryCollection query, string name, int min, int max)
    {
        var text = Single(query, name);
        if (text is null)
            return null;
        if (!AddressParser.TryWholeNumber(text, out var n) || n < min || n > max)
            throw new BadRequestException(name, $"'{text}' is not a whole number between {min} and {max}");
        return n;
    }

    private static string? Address(IQueryCollection query)
    {
        var text = Single(query, "address");
        if (text is null)
            return null;
        return AddressParser.Canonical(text, "address");
    }

    private static string? Interface(IQueryCollection query, IReadOnlyCollection<string> interfaces, string monitoredBy)
    {
        var text = Single(query, "interface");
        if (text is null || interfaces.Contains(text))
            return text;
        throw new BadRequestException("interface", $"'{text}' is not monitored by {monitoredBy} (monitored: {string.Join(", ", interfaces)})");
    }
}
