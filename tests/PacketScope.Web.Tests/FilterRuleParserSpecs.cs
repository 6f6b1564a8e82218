// Filter rule validation: the seed's rules and wildcards parse; every bad rule is a 400 naming the field.
using System.Text.Json;
using PacketScope.Messages;
using PacketScope.Web.Api;
using PacketScope.Web.Api.Filters;
using Xunit;

namespace PacketScope.Web.Tests;

public sealed class FilterRuleParserSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static FilterRuleSpec Parse(string json) => FilterRuleParser.Parse(JsonDocument.Parse(json).RootElement, Now);

    [Fact]
    public void Should_parse_every_preset_as_a_disabled_rule()
    {
        Assert.NotEmpty(FilterPresets.All);
        foreach (var preset in FilterPresets.All)
            Assert.False(FilterRuleParser.Parse(preset, Now).Enabled);
    }

    [Fact]
    public void Should_fill_the_seed_s_wildcards_and_defaults()
    {
        var rule = Parse("""{"rule_type":"tcp","src_ip":"any","dst_ip":"","src_port":0,"dst_port":23}""");
        Assert.Equal(6, rule.Protocol);
        Assert.Null(rule.SrcIp);
        Assert.Null(rule.DstIp);
        Assert.Null(rule.SrcPort);
        Assert.Equal(new PortRange(23, 23), rule.DstPort);
        Assert.Equal(FilterAction.Drop, rule.Action);
        Assert.True(rule.Enabled);
        Assert.Null(rule.Priority);
    }

    [Fact]
    public void Should_take_ICMP_type_255_as_the_seed_s_wildcard()
    {
        var rule = Parse("""{"rule_type":"icmp","icmp_type":255,"icmp_code":255}""");
        Assert.Null(rule.IcmpType);
        Assert.Null(rule.IcmpCode);
        Assert.Equal(1, rule.Protocol);
    }

    [Fact]
    public void Should_normalise_a_prefix_to_its_network()
    {
        Assert.Equal(new AddressMatch("10.0.0.0", 8, false), Parse("""{"src_ip":"10.1.2.3/8"}""").SrcIp);
        Assert.Equal(new AddressMatch("fd00::1", 128, true), Parse("""{"dst_ip":"fd00::1"}""").DstIp);
        Assert.Equal(new AddressMatch("fd00::", 64, true), Parse("""{"dst_ip":"fd00::1:2/64"}""").DstIp);
    }

    [Fact]
    public void Should_parse_port_ranges_inner_fields_and_the_rest()
    {
        var rule = Parse("""
            {"rule_type":"icmp","protocol":"icmp","icmp_type":3,"icmp_code":3,"inner_protocol":"udp","inner_dst_port":"53",
             "inner_src_ip":"10.0.0.0/24","action":"monitor","priority":10,"comment":"dns errors","expires_at":"2026-12-01T00:00:00Z"}
            """);
        Assert.Equal((byte)3, rule.IcmpType);
        Assert.Equal((byte)3, rule.IcmpCode);
        Assert.Equal((byte)17, rule.InnerProtocol);
        Assert.Equal(new PortRange(53, 53), rule.InnerDstPort);
        Assert.Equal(new AddressMatch("10.0.0.0", 24, false), rule.InnerSrcIp);
        Assert.Equal(FilterAction.Monitor, rule.Action);
        Assert.Equal(10, rule.Priority);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero), rule.ExpiresAt);
        Assert.Equal(new PortRange(1000, 2000), Parse("""{"rule_type":"udp","dst_port":"1000-2000"}""").DstPort);
        var syn = Parse("""{"rule_type":"tcp","tcp_flags":2}""");
        Assert.Equal((2, 2), (syn.TcpFlags, syn.TcpFlagsMask)); // flags alone: those bits must be set
    }

    [Theory]
    [InlineData("""[1,2]""", "body")]
    [InlineData("""{"ai_confidence":1.5}""", "ai_confidence")]
    [InlineData("""{"ai_confidence":"high"}""", "ai_confidence")]
    [InlineData("""{"ai_generated":"yes"}""", "ai_generated")]
    [InlineData("""{"colour":"red"}""", "colour")]
    [InlineData("""{"rule_type":"sctp"}""", "rule_type")]
    [InlineData("""{"rule_type":"tcp","protocol":"udp"}""", "protocol")]
    [InlineData("""{"protocol":"quic"}""", "protocol")]
    [InlineData("""{"protocol":300}""", "protocol")]
    [InlineData("""{"src_ip":"10.0.0.300"}""", "src_ip")]
    [InlineData("""{"src_ip":"10.0.0.0/33"}""", "src_ip")]
    [InlineData("""{"dst_ip":"fd00::/129"}""", "dst_ip")]
    [InlineData("""{"dst_ip":"example.com"}""", "dst_ip")]
    [InlineData("""{"src_ip":42}""", "src_ip")]
    [InlineData("""{"src_ip":"10/8"}""", "src_ip")]
    [InlineData("""{"src_ip":"010.0.0.1"}""", "src_ip")]
    [InlineData("""{"src_ip":"0x0A.0.0.1"}""", "src_ip")]
    [InlineData("""{"dst_ip":"::ffff:10.0.0.1"}""", "dst_ip")]
    [InlineData("""{"rule_type":"icmp","icmp_type":3,"inner_protocol":"0"}""", "inner_protocol")]
    [InlineData("""{"expires_at":"2026-12-01T00:00:00"}""", "expires_at")]
    [InlineData("""{"expires_at":"Tue, 01 Dec 2026 00:00:00 GMT"}""", "expires_at")]
    [InlineData("""{"src_ip":"10.0.0.1","dst_ip":"fd00::1"}""", "dst_ip")]
    [InlineData("""{"rule_type":"icmp","dst_ip":"fd00::1"}""", "protocol")]
    [InlineData("""{"rule_type":"icmp","protocol":"icmpv6","dst_ip":"10.0.0.1"}""", "protocol")]
    [InlineData("""{"rule_type":"tcp","dst_port":65536}""", "dst_port")]
    [InlineData("""{"rule_type":"tcp","dst_port":-1}""", "dst_port")]
    [InlineData("""{"rule_type":"tcp","dst_port":"2000-1000"}""", "dst_port")]
    [InlineData("""{"rule_type":"tcp","dst_port":"http"}""", "dst_port")]
    [InlineData("""{"rule_type":"tcp","dst_port":true}""", "dst_port")]
    [InlineData("""{"rule_type":"icmp","dst_port":53}""", "dst_port")]
    [InlineData("""{"src_port":22}""", "src_port")]
    [InlineData("""{"rule_type":"udp","tcp_flags":2}""", "tcp_flags")]
    [InlineData("""{"rule_type":"icmp","tcp_flags_mask":2}""", "tcp_flags_mask")]
    [InlineData("""{"rule_type":"tcp","tcp_flags":256}""", "tcp_flags")]
    [InlineData("""{"rule_type":"tcp","tcp_flags":18,"tcp_flags_mask":2}""", "tcp_flags")]
    [InlineData("""{"rule_type":"icmp","icmp_type":256}""", "icmp_type")]
    [InlineData("""{"rule_type":"icmp","icmp_type":"echo"}""", "icmp_type")]
    [InlineData("""{"rule_type":"icmp","icmp_code":3}""", "icmp_code")]
    [InlineData("""{"rule_type":"tcp","icmp_type":8}""", "icmp_type")]
    [InlineData("""{"rule_type":"udp","inner_protocol":"udp"}""", "inner_protocol")]
    [InlineData("""{"rule_type":"tcp","inner_src_ip":"10.0.0.1"}""", "inner_src_ip")]
    [InlineData("""{"rule_type":"icmp","icmp_type":8,"inner_protocol":"udp"}""", "inner_protocol")]
    [InlineData("""{"rule_type":"icmp","icmp_type":3,"inner_dst_port":53}""", "inner_dst_port")]
    [InlineData("""{"rule_type":"icmp","icmp_type":3,"inner_protocol":"icmp","inner_src_port":1}""", "inner_src_port")]
    [InlineData("""{"rule_type":"icmp","icmp_type":3,"inner_dst_ip":"fd00::1"}""", "inner_dst_ip")]
    [InlineData("""{"rule_type":"icmp","icmp_type":3,"inner_protocol":0}""", "inner_protocol")]
    [InlineData("""{"action":"reject"}""", "action")]
    [InlineData("""{"enabled":"yes"}""", "enabled")]
    [InlineData("""{"priority":-1}""", "priority")]
    [InlineData("""{"priority":1.5}""", "priority")]
    [InlineData("""{"comment":"bad\u0007bell"}""", "comment")]
    [InlineData("""{"expires_at":"tomorrow"}""", "expires_at")]
    [InlineData("""{"expires_at":"2020-01-01T00:00:00Z"}""", "expires_at")]
    public void Should_reject_a_bad_rule_naming_the_field(string json, string field)
    {
        var e = Assert.Throws<BadRequestException>(() => Parse(json));
        Assert.Equal(field, e.Field);
        Assert.False(string.IsNullOrWhiteSpace(e.Reason));
    }

    [Fact]
    public void Should_reject_a_comment_that_is_too_long()
    {
        var e = Assert.Throws<BadRequestException>(() => Parse($$"""{"comment":"{{new string('x', FilterRuleParser.MaxCommentLength + 1)}}"}"""));
        Assert.Equal("comment", e.Field);
    }

    [Fact]
    public void Should_accept_an_expiry_with_an_offset()
    {
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 22, 0, 0, TimeSpan.Zero), Parse("""{"expires_at":"2026-12-01T00:00:00+02:00"}""").ExpiresAt);
    }
}
