// PUT semantics: a stored rule as shown, with the given fields replaced, parsed again like a POST.
using System.Text.Json;
using PacketScope.Messages;
using PacketScope.Web.Api.Filters;
using Xunit;

namespace PacketScope.Web.Tests;

public sealed class FilterRuleJsonSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static FilterRule Stored(string json, int priority = 10) =>
        new(7, priority, FilterRuleParser.Parse(JsonDocument.Parse(json).RootElement, Now), Now, Now);

    private static FilterRuleSpec Put(FilterRule rule, string changes) =>
        FilterRuleParser.Parse(FilterRuleJson.Merge(rule, JsonDocument.Parse(changes).RootElement), Now);

    [Fact]
    public void Should_round_trip_what_a_GET_shows()
    {
        var rule = Stored("""{"rule_type":"icmp","icmp_type":3,"inner_protocol":"udp","inner_dst_port":"53-60","src_ip":"10.0.0.0/8","expires_at":"2026-12-01T00:00:00Z","comment":"x"}""");
        var shown = FilterRuleJson.Write(rule).ToJsonString();
        Assert.Equal(rule.Spec with { Priority = 10 }, Put(rule, shown));
    }

    [Fact]
    public void Should_keep_what_a_partial_update_leaves_out()
    {
        var rule = Stored("""{"rule_type":"tcp","dst_port":23,"tcp_flags":2,"tcp_flags_mask":18,"expires_at":"2026-12-01T00:00:00Z"}""");
        var updated = Put(rule, """{"id":7,"enabled":false,"comment":"Temporarily disabled"}""");
        Assert.False(updated.Enabled);
        Assert.Equal(new PortRange(23, 23), updated.DstPort);
        Assert.Equal((2, 18), (updated.TcpFlags, updated.TcpFlagsMask));
        Assert.Equal(rule.Spec.ExpiresAt, updated.ExpiresAt);
        Assert.Equal(10, updated.Priority);
    }

    [Fact]
    public void Should_drop_the_old_protocol_s_fields_when_the_type_changes_and_keep_the_rest()
    {
        var rule = Stored("""{"rule_type":"tcp","src_ip":"10.0.0.0/8","dst_port":23,"tcp_flags":2,"expires_at":"2026-12-01T00:00:00Z"}""");
        var updated = Put(rule, """{"rule_type":"UDP"}""");
        Assert.Equal(17, updated.Protocol);
        Assert.Null(updated.DstPort);
        Assert.Equal(0, updated.TcpFlagsMask);
        Assert.Equal(rule.Spec.SrcIp, updated.SrcIp);
        Assert.Equal(rule.Spec.ExpiresAt, updated.ExpiresAt);
        var basic = Stored("""{"protocol":"tcp","dst_port":80}""");
        Assert.Equal(17, Put(basic, """{"protocol":"udp"}""").Protocol);
    }

    [Fact]
    public void Should_let_new_tcp_flags_bring_their_own_mask()
    {
        var rule = Stored("""{"rule_type":"tcp","dst_port":22}""");
        Assert.Equal((2, 2), (Put(rule, """{"tcp_flags":2}""").TcpFlags, Put(rule, """{"tcp_flags":2}""").TcpFlagsMask));
    }
}
