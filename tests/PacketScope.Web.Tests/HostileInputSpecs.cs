// Hostile and foreign input: one address parser for rules and queries, numbers without NULs, text that is not Unicode,
// the seed front end's extra fields, the Host names the API answers to, and the browser options.
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using PacketScope.Messages;
using PacketScope.Web.Api;
using PacketScope.Web.Api.Filters;
using PacketScope.Web.Hosting;
using Xunit;

namespace PacketScope.Web.Tests;

public sealed class HostileInputSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly string Defaults = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "config", "packetscope.conf"));

    private static IQueryCollection Q(params (string Key, string Value)[] pairs) =>
        new QueryCollection(pairs.ToDictionary(p => p.Key, p => new StringValues(p.Value)));

    private static FilterRuleSpec Rule(string json) => FilterRuleParser.Parse(JsonDocument.Parse(json).RootElement, Now);

    public static TheoryData<string> LaxAddresses => new()
    {
        "10", "127.1", "010.1.1.1", "0x7f.1", "0x7f000001", "1.2.3.4.", "fe80::1%eth0", "fe80::1%25eth0", "::ffff:10.0.0.1",
        "10.0.0.1/", "10.0.0.0/+8", "10.0.0.0/08x", "١٠.0.0.1",
    };

    [Theory]
    [MemberData(nameof(LaxAddresses))]
    public void Should_refuse_the_same_lax_address_forms_in_a_rule_and_in_the_address_query(string address)
    {
        var inRule = Assert.Throws<BadRequestException>(() => Rule(JsonSerializer.Serialize(new { src_ip = address })));
        var inConnections = Assert.Throws<BadRequestException>(() => QueryParser.Connections(Q(("address", address)), []));
        var inIcmp = Assert.Throws<BadRequestException>(() => QueryParser.Icmp(Q(("address", address)), []));

        Assert.Equal("src_ip", inRule.Field);
        Assert.Equal("address", inConnections.Field);
        Assert.Equal("address", inIcmp.Field);
    }

    [Theory]
    [InlineData("10.0.0.1", "10.0.0.1")]
    [InlineData("10.1.2.3/8", "10.0.0.0/8")]
    [InlineData("FD00::1", "fd00::1")]
    [InlineData("fd00::1/64", "fd00::/64")]
    public void Should_take_strict_addresses_in_the_query_in_their_canonical_form(string given, string canonical)
    {
        Assert.Equal(canonical, QueryParser.Connections(Q(("address", given)), []).Address);
        Assert.Equal(canonical, QueryParser.Icmp(Q(("address", given)), []).Address);
    }

    [Theory]
    [InlineData("limit", "1\0")]
    [InlineData("limit", "1\u0000\u0000")]
    [InlineData("port", "80\0")]
    [InlineData("limit", "\u0661")] // ARABIC-INDIC DIGIT ONE
    [InlineData("offset", "+1")]
    public void Should_refuse_numbers_with_nuls_signs_or_other_digits_in_a_query(string field, string value)
    {
        var e = Assert.Throws<BadRequestException>(() => QueryParser.Connections(Q((field, value)), []));
        Assert.Equal(field, e.Field);
    }

    [Theory]
    [InlineData("""{"rule_type":"tcp","dst_port":"23\u0000"}""", "dst_port")]
    [InlineData("""{"rule_type":"tcp","dst_port":"1000-2000\u0000"}""", "dst_port")]
    [InlineData("""{"protocol":"6\u0000"}""", "protocol")]
    [InlineData("""{"comment":"\ud800"}""", "comment")]
    [InlineData("""{"comment":"ok \udfff then"}""", "comment")]
    [InlineData("""{"rule_type":"tcp","src_ip":"\ud800"}""", "src_ip")]
    [InlineData("""{"\ud800":"x"}""", "body")]
    public void Should_refuse_nuls_and_lone_surrogates_in_a_rule_naming_the_field(string json, string field)
    {
        var e = Assert.Throws<BadRequestException>(() => Rule(json));
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void Should_refuse_bytes_that_are_not_UTF_8_in_a_rule_naming_the_field()
    {
        var utf8 = Encoding.UTF8.GetBytes("""{"rule_type":"tcp","comment":"X"}""");
        var at = Array.IndexOf(utf8, (byte)'X');
        utf8[at] = 0xff;
        using var document = JsonDocument.Parse(utf8); // the reader takes it: it is the string that cannot be decoded

        var e = Assert.Throws<BadRequestException>(() => FilterRuleParser.Parse(document.RootElement, Now));
        var inPut = Assert.Throws<BadRequestException>(() => FilterRuleParser.CheckText(document.RootElement));

        Assert.Equal("comment", e.Field);
        Assert.Equal("comment", inPut.Field);
        Assert.Contains("UTF-8", e.Reason);
    }

    [Fact]
    public void Should_ignore_the_id_the_seed_s_add_form_sends_and_keep_its_AI_fields_as_provenance()
    {
        var byHand = Rule("""{"id":7,"rule_type":"tcp","dst_port":23,"ai_generated":false}""");
        var generated = Rule("""{"id":"x","rule_type":"icmp","icmp_type":8,"ai_generated":true,"ai_confidence":0.92,"ai_reason":"ping sweep from 10.0.0.0/8\nseen 400 times"}""");
        var confidenceOnly = Rule("""{"ai_confidence":0.5}""");

        Assert.Null(byHand.Provenance);
        Assert.Equal(new FilterProvenance(true, 0.92, "ping sweep from 10.0.0.0/8\nseen 400 times"), generated.Provenance);
        Assert.Equal(new FilterProvenance(true, 0.5, null), confidenceOnly.Provenance);

        var shown = FilterRuleJson.Write(new FilterRule(3, 0, generated, Now, Now));
        Assert.Equal(3, shown["id"]!.GetValue<int>());
        Assert.True(shown["ai_generated"]!.GetValue<bool>());
        Assert.Equal(0.92, shown["ai_confidence"]!.GetValue<double>());
        Assert.False(FilterRuleJson.Write(new FilterRule(4, 0, byHand, Now, Now))["ai_generated"]!.GetValue<bool>());

        // PUT merges onto the rule as shown: provenance stays unless changed; ai_generated false clears it.
        var existing = new FilterRule(3, 0, generated, Now, Now);
        Assert.Equal(generated.Provenance, Rule(FilterRuleJson.Merge(existing, JsonDocument.Parse("""{"comment":"edited"}""").RootElement).GetRawText()).Provenance);
        Assert.Null(Rule(FilterRuleJson.Merge(existing, JsonDocument.Parse("""{"ai_generated":false}""").RootElement).GetRawText()).Provenance);
    }

    private static NodeOptions Options(params string[] args) => NodeOptions.Parse(args, new Dictionary<string, string?>(), Defaults);

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.9.8.7", true)]
    [InlineData("[::1]", true)]
    [InlineData("localhost", true)]
    [InlineData("LOCALHOST", true)]
    [InlineData("app.localhost", true)]
    [InlineData("ui.example.com", true)] // --allowed-host
    [InlineData("UI.Example.Com", true)]
    [InlineData("evil.example", false)]
    [InlineData("127.0.0.1.nip.io", false)]
    [InlineData("10.0.0.5", false)] // not the listen address
    [InlineData("", true)] // HTTP/1.0 without a Host: no name to rebind
    public void Should_answer_only_to_loopback_the_listen_address_and_allowed_host_names(string host, bool allowed)
    {
        var options = Options("--api", "127.0.0.1:8080", "--allowed-host", "ui.example.com");
        Assert.Equal(allowed, WebSecurity.IsAllowedHost(host, options));
    }

    [Fact]
    public void Should_answer_to_any_address_literal_but_no_other_name_when_listening_on_all_addresses()
    {
        var all = Options("--api", ":8080");
        var one = Options("--api", "10.0.0.5:8080");

        Assert.True(WebSecurity.IsAllowedHost("10.0.0.5", all));
        Assert.True(WebSecurity.IsAllowedHost("[2001:db8::5]", all));
        Assert.False(WebSecurity.IsAllowedHost("node1.example", all));
        Assert.True(WebSecurity.IsAllowedHost("10.0.0.5", one));
        Assert.False(WebSecurity.IsAllowedHost("10.0.0.6", one));
    }

    [Fact]
    public void Should_read_cors_origins_and_allowed_hosts_from_every_layer_and_refuse_bad_ones()
    {
        var cli = Options("--cors-origin", "http://127.0.0.1:5173/", "--cors-origin", "HTTPS://UI.example.com", "--cors-allow-changes");
        Assert.Equal(["http://127.0.0.1:5173", "https://ui.example.com"], cli.CorsOrigins);
        Assert.True(cli.CorsAllowChanges);
        Assert.False(Options().CorsAllowChanges);
        Assert.Empty(Options().CorsOrigins);
        Assert.Empty(Options().AllowedHosts);

        var env = NodeOptions.Parse([], new Dictionary<string, string?>
        {
            ["PACKETSCOPE_CORS_ORIGINS"] = "http://a.example:81, http://b.example",
            ["PACKETSCOPE_CORS_ALLOW_CHANGES"] = "true",
            ["PACKETSCOPE_ALLOWED_HOSTS"] = "Node1.Example,node2.example",
        }, Defaults);
        Assert.Equal(["http://a.example:81", "http://b.example"], env.CorsOrigins);
        Assert.True(env.CorsAllowChanges);
        Assert.Equal(["node1.example", "node2.example"], env.AllowedHosts);

        var file = Path.Combine(Path.GetTempPath(), $"ps-{Guid.NewGuid():N}.conf");
        File.WriteAllText(file, """packetscope { cors-origins = ["http://c.example:8000"], allowed-hosts = [ps.example] }""");
        try
        {
            var hocon = Options("--config", file);
            Assert.Equal(["http://c.example:8000"], hocon.CorsOrigins);
            Assert.Equal(["ps.example"], hocon.AllowedHosts);
        }
        finally
        {
            File.Delete(file);
        }

        foreach (var bad in new[] { "*", "http://*.example.com", "127.0.0.1:5173", "ftp://x.example", "http://x.example/app", "http://x.example?a=1" })
            Assert.Equal("cors-origin", Assert.Throws<OptionsException>(() => Options("--cors-origin", bad)).Option);
        Assert.Equal("cors-allow-changes", Assert.Throws<OptionsException>(() => Options("--cors-allow-changes")).Option);
        Assert.Equal("allowed-host", Assert.Throws<OptionsException>(() => Options("--allowed-host", "bad host!")).Option);
    }

    [Fact]
    public void Should_sum_the_seed_s_flat_totals_over_every_interface_of_every_node()
    {
        static InterfaceStats Iface(string name, ulong total, ulong drop, ulong malformed) => new(name, Now,
            new Dictionary<string, Counter> { ["total"] = new(total, total * 100, 0, 0), ["drop"] = new(drop, drop * 60, 0, 0), ["malformed"] = new(malformed, 0, 0, 0) },
            new Dictionary<string, Counter> { ["total"] = new(1, 50, 0, 0), ["drop"] = new(0, 0, 0, 0), ["malformed"] = new(1, 0, 0, 0) },
            [], new FlowTableStats(0, 0, 0, 0), new TelemetryLosses(0, 0, 0, 0));
        var n1 = new StatsResponse("n1", Now, [Iface("eth0", 10, 2, 1), Iface("eth1", 20, 3, 0)]);
        var n2 = new StatsResponse("n2", Now, [Iface("eth0", 5, 0, 0)]);

        var cluster = ClusterApi.StatsJson(new ClusterStatsResponse([n1, n2], []), Now);
        var one = ClusterApi.NodeStatsJson(n1);

        Assert.Equal(35UL + 3, cluster["TotalPackets"]!.GetValue<ulong>());
        Assert.Equal(3500UL + 150, cluster["TotalBytes"]!.GetValue<ulong>());
        Assert.Equal(5UL, cluster["DroppedPackets"]!.GetValue<ulong>());
        Assert.Equal(1UL + 3, cluster["MalformedPackets"]!.GetValue<ulong>());
        Assert.Equal(3, cluster["interfaces"]!.AsArray().Count); // the structured fields stay beside them
        Assert.Equal(32UL, one["TotalPackets"]!.GetValue<ulong>());
        Assert.Equal("n1", one["node"]!.GetValue<string>());
        Assert.Equal(2, one["interfaces"]!.AsArray().Count);
    }
}
