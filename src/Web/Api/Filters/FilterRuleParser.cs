// Turns a filter rule's JSON (the seed's field names) into a validated FilterRuleSpec, or a 400 that
// names the field and the reason. Wildcards as in the seed: omitted, "" or "any" addresses, port 0,
// ICMP type/code omitted (255 is accepted as the seed's wildcard too).
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PacketScope.Messages;

namespace PacketScope.Web.Api.Filters;

public static class FilterRuleParser
{
    public const int MaxCommentLength = 256;
    public const int MaxPriority = FilterRuleSpec.MaxPriority;

    private static readonly string[] s_isoFormats =
        ["yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mmK"];

    private static readonly HashSet<string> s_fields =
    [
        "rule_type", "protocol", "src_ip", "dst_ip", "src_port", "dst_port", "tcp_flags", "tcp_flags_mask",
        "icmp_type", "icmp_code", "inner_src_ip", "inner_dst_ip", "inner_protocol", "inner_src_port", "inner_dst_port",
        "action", "enabled", "comment", "priority", "expires_at", "ai_generated", "ai_confidence", "ai_reason",
        "id", // the seed's add form sends one: ids are the server's, so it is ignored (PUT checks it against the path)
    ];

    public const int MaxReasonLength = 1024;

    public static FilterRuleSpec Parse(JsonElement body, DateTimeOffset now)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw new BadRequestException("body", "must be a JSON object with the rule's fields");
        CheckText(body);
        foreach (var p in body.EnumerateObject())
            if (!s_fields.Contains(p.Name))
                throw new BadRequestException(p.Name, $"unknown field; known: {string.Join(", ", s_fields.Where(f => f != "id"))}");

        var ruleType = RuleType(body);
        var protocol = Protocol(body, ruleType);
        var isTcp = protocol == 6;
        var isUdp = protocol == 17;
        var isIcmp = protocol is 1 or 58;

        var src = Address(body, "src_ip");
        var dst = Address(body, "dst_ip");
        if (src is not null && dst is not null && src.IsIpv6 != dst.IsIpv6)
            throw new BadRequestException("dst_ip", $"is {(dst.IsIpv6 ? "IPv6" : "IPv4")} but src_ip is {(src.IsIpv6 ? "IPv6" : "IPv4")}");
        if (protocol == 1 && (src?.IsIpv6 == true || dst?.IsIpv6 == true))
            throw new BadRequestException("protocol", "icmp matches IPv4 only; use icmpv6 for IPv6 addresses");
        if (protocol == 58 && (src?.IsIpv6 == false || dst?.IsIpv6 == false))
            throw new BadRequestException("protocol", "icmpv6 matches IPv6 only; use icmp for IPv4 addresses");

        var srcPort = Port(body, "src_port");
        var dstPort = Port(body, "dst_port");
        if ((srcPort ?? dstPort) is not null && !isTcp && !isUdp)
            throw new BadRequestException(srcPort is not null ? "src_port" : "dst_port",
                "ports apply to tcp and udp rules only; for ICMP errors use inner_src_port/inner_dst_port");

        var tcpFlags = Byte(body, "tcp_flags");
        var tcpMask = Byte(body, "tcp_flags_mask");
        if ((tcpFlags ?? tcpMask) is not null && !isTcp)
            throw new BadRequestException(tcpFlags is not null ? "tcp_flags" : "tcp_flags_mask", "TCP flags apply to tcp rules only");
        var flags = tcpFlags ?? 0;
        var mask = tcpMask ?? flags; // flags alone: those flags must be set
        if ((flags & ~mask) != 0)
            throw new BadRequestException("tcp_flags", $"sets bits ({flags}) outside tcp_flags_mask ({mask}): they could never match");

        var icmpType = IcmpField(body, "icmp_type");
        var icmpCode = IcmpField(body, "icmp_code");
        if ((icmpType ?? icmpCode) is not null && !isIcmp)
            throw new BadRequestException(icmpType is not null ? "icmp_type" : "icmp_code", "applies to icmp rules only");
        if (icmpCode is not null && icmpType is null)
            throw new BadRequestException("icmp_code", "needs icmp_type: a code means something only for one type");

        var innerSrc = Address(body, "inner_src_ip");
        var innerDst = Address(body, "inner_dst_ip");
        var innerProtocol = InnerProtocol(body);
        var innerSrcPort = Port(body, "inner_src_port");
        var innerDstPort = Port(body, "inner_dst_port");
        var inner = new (string Field, object? Value)[]
        {
            ("inner_src_ip", innerSrc), ("inner_dst_ip", innerDst), ("inner_protocol", innerProtocol),
            ("inner_src_port", innerSrcPort), ("inner_dst_port", innerDstPort),
        }.FirstOrDefault(f => f.Value is not null);
        if (inner.Field is not null)
        {
            if (!isIcmp)
                throw new BadRequestException(inner.Field, "inner fields match the packet an ICMP error quotes: icmp rules only");
            if (icmpType is { } t && !IsIcmpError(protocol, t))
                throw new BadRequestException(inner.Field, $"ICMP type {t} is not an error message and quotes no packet");
            if ((innerSrcPort ?? innerDstPort) is not null && innerProtocol is not (6 or 17))
                throw new BadRequestException(innerSrcPort is not null ? "inner_src_port" : "inner_dst_port",
                    "inner ports need inner_protocol tcp or udp");
            var family = protocol == 58;
            if (innerSrc is not null && innerSrc.IsIpv6 != family)
                throw new BadRequestException("inner_src_ip", $"an {(family ? "ICMPv6" : "ICMP")} error quotes {(family ? "IPv6" : "IPv4")} packets");
            if (innerDst is not null && innerDst.IsIpv6 != family)
                throw new BadRequestException("inner_dst_ip", $"an {(family ? "ICMPv6" : "ICMP")} error quotes {(family ? "IPv6" : "IPv4")} packets");
        }

        return new FilterRuleSpec(ruleType, protocol, src, dst, srcPort, dstPort, flags, mask, icmpType, icmpCode,
            innerSrc, innerDst, innerProtocol, innerSrcPort, innerDstPort,
            Action(body), Bool(body, "enabled") ?? true, Comment(body), Priority(body), Expiry(body, now), Provenance(body));
    }

    /// <summary>
    /// Every string and field name of a body is text: a lone surrogate ("\ud800") or bytes that are not UTF-8 would
    /// otherwise fail deep inside the JSON reader. A 400 naming the (top-level) field it is in.
    /// </summary>
    public static void CheckText(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
            return;
        foreach (var p in body.EnumerateObject())
            CheckValue(p.Value, Name(p, "body"));
    }

    private static void CheckValue(JsonElement value, string field)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                try
                {
                    _ = value.GetString();
                }
                catch (InvalidOperationException)
                {
                    throw new BadRequestException(field, "is not valid Unicode text: it holds a lone surrogate (such as \\ud800) or bytes that are not UTF-8");
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in value.EnumerateArray())
                    CheckValue(item, field);
                break;
            case JsonValueKind.Object:
                foreach (var p in value.EnumerateObject())
                    CheckValue(p.Value, Name(p, field));
                break;
        }
    }

    private static string Name(JsonProperty p, string field)
    {
        string name;
        try
        {
            name = p.Name;
        }
        catch (InvalidOperationException)
        {
            throw new BadRequestException(field, "has a field name that is not valid Unicode text (a lone surrogate or bytes that are not UTF-8)");
        }
        return field == "body" ? name : field;
    }

    /// <summary>The seed's AI fields: null when the rule was written by hand (ai_generated false, or absent with nothing else said).</summary>
    private static FilterProvenance? Provenance(JsonElement body)
    {
        var generated = Bool(body, "ai_generated");
        double? confidence = null;
        if (body.TryGetProperty("ai_confidence", out var c) && c.ValueKind != JsonValueKind.Null)
        {
            if (c.ValueKind != JsonValueKind.Number || !c.TryGetDouble(out var d) || !double.IsFinite(d) || d is < 0 or > 1)
                throw new BadRequestException("ai_confidence", $"{c.GetRawText()} is not a number from 0 to 1");
            confidence = d;
        }
        var reason = String(body, "ai_reason");
        if (reason is { Length: > MaxReasonLength })
            throw new BadRequestException("ai_reason", $"is {reason.Length} characters; at most {MaxReasonLength}");
        if (reason is not null && reason.Any(ch => char.IsControl(ch) && ch is not ('\n' or '\t')))
            throw new BadRequestException("ai_reason", "contains control characters (other than new lines and tabs)");
        if (reason?.Length == 0)
            reason = null;
        if (generated == false)
            return null; // by hand, whatever else is said (a PUT of ai_generated false clears what a generator left)
        return generated == true || confidence is not null || reason is not null ? new FilterProvenance(true, confidence, reason) : null;
    }

    public static bool IsIcmpError(byte protocol, byte type) =>
        protocol == 58 ? type is >= 1 and <= 4 : type is 3 or 4 or 5 or 11 or 12;

    private static FilterRuleType RuleType(JsonElement body) => String(body, "rule_type")?.ToLowerInvariant() switch
    {
        null or "basic" => FilterRuleType.Basic,
        "tcp" => FilterRuleType.Tcp,
        "udp" => FilterRuleType.Udp,
        "icmp" => FilterRuleType.Icmp,
        var t => throw new BadRequestException("rule_type", $"'{t}' is not one of basic, tcp, udp, icmp"),
    };

    private static byte Protocol(JsonElement body, FilterRuleType ruleType)
    {
        byte? given = body.TryGetProperty("protocol", out var p) ? p.ValueKind switch
        {
            JsonValueKind.String when p.GetString() is "" or "any" => 0,
            JsonValueKind.String => ProtocolNumber("protocol", p.GetString()!),
            JsonValueKind.Number when p.TryGetByte(out var n) => n,
            _ => throw new BadRequestException("protocol", "must be tcp, udp, icmp, icmpv6, any or a number 0-255"),
        } : null;
        return (ruleType, given) switch
        {
            (FilterRuleType.Basic, _) => given ?? 0,
            (FilterRuleType.Tcp, null or 6) => 6,
            (FilterRuleType.Udp, null or 17) => 17,
            (FilterRuleType.Icmp, null or 1) => 1,
            (FilterRuleType.Icmp, 58) => 58,
            _ => throw new BadRequestException("protocol", $"protocol {given} contradicts rule_type {ruleType.ToString().ToLowerInvariant()}"),
        };
    }

    private static byte? InnerProtocol(JsonElement body)
    {
        if (!body.TryGetProperty("inner_protocol", out var p) || p.ValueKind == JsonValueKind.Null)
            return null;
        return p.ValueKind switch
        {
            JsonValueKind.String when p.GetString() is "" or "any" => null,
            JsonValueKind.String when ProtocolNumber("inner_protocol", p.GetString()!) is var n && n > 0 => n,
            JsonValueKind.Number when p.TryGetByte(out var n) && n > 0 => n,
            _ => throw new BadRequestException("inner_protocol", "must be tcp, udp, icmp, icmpv6 or a number 1-255"),
        };
    }

    private static byte ProtocolNumber(string field, string text) => text.ToLowerInvariant() switch
    {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" or "ipv6-icmp" => 58,
        var t when AddressParser.TryWholeNumber(t, out var n) && n <= 255 => (byte)n,
        _ => throw new BadRequestException(field, $"'{text}' is not tcp, udp, icmp, icmpv6 or a protocol number 0-255"),
    };

    private static AddressMatch? Address(JsonElement body, string field)
    {
        var text = String(body, field);
        if (text is null || text.Length == 0 || text.Equals("any", StringComparison.OrdinalIgnoreCase))
            return null;
        var (network, ipv6) = AddressParser.Parse(text, field);
        return new AddressMatch(network.BaseAddress.ToString(), network.PrefixLength, ipv6);
    }

    private static PortRange? Port(JsonElement body, string field)
    {
        if (!body.TryGetProperty(field, out var p) || p.ValueKind == JsonValueKind.Null)
            return null;
        int from, to;
        if (p.ValueKind == JsonValueKind.Number)
        {
            if (!p.TryGetInt32(out from) || from is < 0 or > 65535)
                throw new BadRequestException(field, $"{p.GetRawText()} is out of range: ports are 1-65535 (0 = any)");
            to = from;
        }
        else if (p.ValueKind == JsonValueKind.String)
        {
            var text = p.GetString()!;
            var dash = text.IndexOf('-');
            bool ok;
            if (dash < 0)
            {
                ok = AddressParser.TryWholeNumber(text, out from);
                to = from;
            }
            else
            {
                ok = AddressParser.TryWholeNumber(text[..dash], out from) & AddressParser.TryWholeNumber(text[(dash + 1)..], out to);
            }
            if (!ok || from is < 0 or > 65535 || to is < 0 or > 65535)
                throw new BadRequestException(field, $"'{text}' is not a port (1-65535) or a range like \"1000-2000\"");
            if (from > to)
                throw new BadRequestException(field, $"'{text}' is an empty range: the first port is above the last");
            if (dash >= 0 && from == 0)
                throw new BadRequestException(field, $"'{text}': a range starts at port 1 or above");
        }
        else
        {
            throw new BadRequestException(field, "must be a port number or a range string like \"1000-2000\"");
        }
        return from == 0 ? null : new PortRange(from, to);
    }

    private static byte? Byte(JsonElement body, string field)
    {
        if (!body.TryGetProperty(field, out var p) || p.ValueKind == JsonValueKind.Null)
            return null;
        if (p.ValueKind != JsonValueKind.Number || !p.TryGetInt32(out var n) || n is < 0 or > 255)
            throw new BadRequestException(field, $"{p.GetRawText()} is not a number from 0 to 255");
        return (byte)n;
    }

    private static byte? IcmpField(JsonElement body, string field)
    {
        var value = Byte(body, field);
        return value == 255 ? null : value; // the seed's wildcard
    }

    private static FilterAction Action(JsonElement body) => String(body, "action")?.ToLowerInvariant() switch
    {
        null or "drop" => FilterAction.Drop,
        "allow" or "pass" or "accept" => FilterAction.Allow,
        "monitor" => FilterAction.Monitor,
        var a => throw new BadRequestException("action", $"'{a}' is not one of drop, allow, monitor"),
    };

    private static bool? Bool(JsonElement body, string field)
    {
        if (!body.TryGetProperty(field, out var p) || p.ValueKind == JsonValueKind.Null)
            return null;
        return p.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new BadRequestException(field, "must be true or false"),
        };
    }

    private static string Comment(JsonElement body)
    {
        var text = String(body, "comment") ?? "";
        if (text.Length > MaxCommentLength)
            throw new BadRequestException("comment", $"is {text.Length} characters; at most {MaxCommentLength}");
        if (text.Any(char.IsControl))
            throw new BadRequestException("comment", "contains control characters");
        return text;
    }

    private static int? Priority(JsonElement body)
    {
        if (!body.TryGetProperty("priority", out var p) || p.ValueKind == JsonValueKind.Null)
            return null;
        if (p.ValueKind != JsonValueKind.Number || !p.TryGetInt32(out var n) || n is < 0 or > MaxPriority)
            throw new BadRequestException("priority", $"{p.GetRawText()} is not a whole number from 0 to {MaxPriority} (lower matches first)");
        return n;
    }

    private static DateTimeOffset? Expiry(JsonElement body, DateTimeOffset now)
    {
        var text = String(body, "expires_at");
        if (text is null)
            return null;
        // ISO 8601 with Z or an offset: a time without one would mean whatever the server's zone is.
        if (!(text.EndsWith('Z') || System.Text.RegularExpressions.Regex.IsMatch(text, @"[+-]\d\d:\d\d$"))
            || !DateTimeOffset.TryParseExact(text, s_isoFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
            throw new BadRequestException("expires_at", $"'{text}' is not an ISO 8601 time with Z or an offset, such as 2026-12-01T00:00:00Z");
        if (at <= now)
            throw new BadRequestException("expires_at", $"{text} is in the past");
        return at.ToUniversalTime();
    }

    private static string? String(JsonElement body, string field)
    {
        if (!body.TryGetProperty(field, out var p) || p.ValueKind == JsonValueKind.Null)
            return null;
        if (p.ValueKind != JsonValueKind.String)
            throw new BadRequestException(field, "must be a string");
        return p.GetString()!.Trim();
    }
}
