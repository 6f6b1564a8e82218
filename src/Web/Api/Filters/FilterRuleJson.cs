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
        if (s.Protocol == 6)
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
        return o;
    }

    private static JsonNode? Port(PortRange? range) => range switch
    {
        null => 0,
        { From: var f, To: var t } when f == t => f,
        var r => r.ToString(),
    };

    /// <summary>The existing rule's input shape with the given fields replaced (PUT: partial or whole).</summary>
    public static JsonElement Merge(FilterRule existing, JsonElement changes)
    {
        var merged = WriteSpec(existing.Spec);
        merged["priority"] = existing.Priority;
        // Fields that belong to another rule type would be rejected on their own: a new type starts clean.
        if (changes.TryGetProperty("rule_type", out var type) && type.ToString() != merged["rule_type"]!.GetValue<string>())
            merged = new JsonObject { ["action"] = merged["action"]!.DeepClone(), ["enabled"] = merged["enabled"]!.DeepClone(),
                ["comment"] = merged["comment"]!.DeepClone(), ["priority"] = merged["priority"]!.DeepClone() };
        foreach (var p in changes.EnumerateObject())
            merged[p.Name] = JsonNode.Parse(p.Value.GetRawText());
        return JsonSerializer.SerializeToElement(merged);
    }
}
