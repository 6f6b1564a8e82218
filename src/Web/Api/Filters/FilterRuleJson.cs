// A stored rule as the API shows it: the seed's field names plus id, priority and times. The same shape
// is what PUT merges into, so a partial update is "the rule as shown, with these fields replaced".
using System.Text.Json;
using System.Text.Json.Nodes;
using PacketScope.Messages;

namespace PacketScope.Web.Api.Filters;

public static class FilterRuleJson
{
    public static JsonObject Write(FilterRule rule)
    {
        var o = WriteSpec(rule.Spec);
        o.Insert(0, "id", rule.Id);
        o["priority"] = rule.Priority;
        o["created_at"] = rule.CreatedAt;
        o["updated_at"] = rule.UpdatedAt;
        return o;
    }

    /// <summary>The spec in the input shape FilterRuleParser reads (wildcards as "any", 0 and omitted fields).</summary>
    public static JsonObject WriteSpec(FilterRuleSpec s)
    {
        var o = new JsonObject
        {
            ["rule_type"] = s.RuleType.ToString().ToLowerInvariant(),
            ["protocol"] = s.Protocol switch { 0 => "any", 6 => "tcp", 17 => "udp", 1 => "icmp", 58 => "icmpv6", var n => n.ToString() },
            ["src_ip"] = s.SrcIp?.ToString() ?? "any",
            ["dst_ip"] = s.DstIp?.ToString() ?? "any",
            ["src_port"] = Port(s.SrcPort),
            ["dst_port"] = Port(s.DstPort),
        };
        if (s.Protocol == 6 && s.TcpFlagsMask != 0)
        {
            o["tcp_flags"] = s.TcpFlags;
            o["tcp_flags_mask"] = s.TcpFlagsMask;
        }
        if (s.Protocol is 1 or 58)
        {
            o["icmp_type"] = s.IcmpType is { } t ? t : null;
            o["icmp_code"] = s.IcmpCode is { } c ? c : null;
            o["inner_src_ip"] = s.InnerSrcIp?.ToString() ?? "any";
            o["inner_dst_ip"] = s.InnerDstIp?.ToString() ?? "any";
            o["inner_protocol"] = s.InnerProtocol switch { null => "any", 6 => "tcp", 17 => "udp", 1 => "icmp", 58 => "icmpv6", var n => n.ToString() };
            o["inner_src_port"] = Port(s.InnerSrcPort);
            o["inner_dst_port"] = Port(s.InnerDstPort);
        }
        o["action"] = s.Action.ToString().ToLowerInvariant();
        o["enabled"] = s.Enabled;
        o["comment"] = s.Comment;
        if (s.Priority is { } p)
            o["priority"] = p;
        o["expires_at"] = s.ExpiresAt;
        o["ai_generated"] = s.Provenance?.AiGenerated ?? false;
        o["ai_confidence"] = s.Provenance?.AiConfidence;
        o["ai_reason"] = s.Provenance?.AiReason;
        return o;
    }

    private static JsonNode? Port(PortRange? range) => range switch
    {
        null => 0,
        { From: var f, To: var t } when f == t => f,
        var r => r.ToString(),
    };

    /// <summary>Fields a client may echo back from a GET that are the server's, not the rule's.</summary>
    private static readonly HashSet<string> s_serverFields = ["id", "created_at", "updated_at", "hits"];

    /// <summary>Fields that only make sense for one protocol: dropped when the rule's protocol or type changes.</summary>
    private static readonly string[] s_protocolFields =
        ["src_port", "dst_port", "tcp_flags", "tcp_flags_mask", "icmp_type", "icmp_code",
         "inner_src_ip", "inner_dst_ip", "inner_protocol", "inner_src_port", "inner_dst_port"];

    /// <summary>
    /// The existing rule's input shape with the given fields replaced (PUT: partial or whole, a GET's
    /// output included). A change of rule_type or protocol drops the old protocol-specific fields.
    /// </summary>
    public static JsonElement Merge(FilterRule existing, JsonElement changes)
    {
        var merged = WriteSpec(existing.Spec);
        merged["priority"] = existing.Priority;
        if (Changed(changes, "rule_type", merged) || Changed(changes, "protocol", merged))
        {
            foreach (var f in s_protocolFields)
                merged.Remove(f);
            if (!changes.TryGetProperty("protocol", out _))
                merged.Remove("protocol"); // follows the new rule_type
        }
        foreach (var p in changes.EnumerateObject())
            if (!s_serverFields.Contains(p.Name))
                merged[p.Name] = JsonNode.Parse(p.Value.GetRawText());
        return JsonSerializer.SerializeToElement(merged);
    }

    private static bool Changed(JsonElement changes, string field, JsonObject current) =>
        changes.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String
        && !string.Equals(value.GetString()?.Trim(), current[field]?.GetValue<string>(), StringComparison.OrdinalIgnoreCase);
}
