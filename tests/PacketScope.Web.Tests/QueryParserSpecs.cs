// Query validation: every bad parameter is a 400 naming the field and the reason.
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using PacketScope.Messages;
using PacketScope.Web.Api;
using Xunit;

namespace PacketScope.Web.Tests;

public sealed class QueryParserSpecs
{
    private static readonly string[] Interfaces = ["eth0", "veth1"];

    private static IQueryCollection Q(params (string Key, string Value)[] pairs) =>
        new QueryCollection(pairs.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => new StringValues(g.Select(p => p.Value).ToArray())));

    [Fact]
    public void Should_parse_a_full_connection_query()
    {
        var q = QueryParser.Connections(Q(("limit", "10"), ("sort", "last_seen"), ("address", "10.0.0.0/8"), ("port", "443"),
            ("protocol", "TCP"), ("interface", "veth1"), ("state", "established")), Interfaces);
        Assert.Equal(new ConnectionQuery(10, ConnectionSort.LastSeen, "10.0.0.0/8", 443, 6, "veth1", "established"), q);
    }

    [Fact]
    public void Should_default_to_100_by_bytes()
    {
        Assert.Equal(new ConnectionQuery(), QueryParser.Connections(Q(), Interfaces));
    }

    [Theory]
    [InlineData("limit", "0")]
    [InlineData("limit", "100001")]
    [InlineData("limit", "ten")]
    [InlineData("limit", "")]
    [InlineData("offset", "-1")]
    [InlineData("offset", "100000")]
    [InlineData("sort", "size")]
    [InlineData("address", "10.0.0.300")]
    [InlineData("address", "10.0.0.0/33")]
    [InlineData("address", "example.com")]
    [InlineData("port", "65536")]
    [InlineData("port", "-1")]
    [InlineData("protocol", "sctpx")]
    [InlineData("protocol", "256")]
    [InlineData("interface", "eth7")]
    [InlineData("state", "open")]
    [InlineData("colour", "red")]
    public void Should_reject_a_bad_connection_parameter_naming_it(string field, string value)
    {
        var e = Assert.Throws<BadRequestException>(() => QueryParser.Connections(Q((field, value)), Interfaces));
        Assert.Equal(field, e.Field);
        Assert.False(string.IsNullOrWhiteSpace(e.Reason));
    }

    [Fact]
    public void Should_take_a_page_and_refuse_one_beyond_the_rows_a_query_reaches()
    {
        Assert.Equal(new ConnectionQuery(Limit: 200, Offset: 400), QueryParser.Connections(Q(("limit", "200"), ("offset", "400")), Interfaces));
        var e = Assert.Throws<BadRequestException>(() => QueryParser.Connections(Q(("limit", "200"), ("offset", "99900")), Interfaces));
        Assert.Equal("offset", e.Field);
    }

    [Fact]
    public void Should_reject_a_parameter_given_twice()
    {
        var e = Assert.Throws<BadRequestException>(() => QueryParser.Connections(Q(("port", "1"), ("port", "2")), Interfaces));
        Assert.Equal("port", e.Field);
    }

    [Theory]
    [InlineData("type", "256")]
    [InlineData("family", "ipv5")]
    [InlineData("address", "fe80::zz")]
    [InlineData("sort", "bytes")]
    public void Should_reject_a_bad_icmp_parameter_naming_it(string field, string value)
    {
        Assert.Equal(field, Assert.Throws<BadRequestException>(() => QueryParser.Icmp(Q((field, value)), Interfaces)).Field);
    }

    [Fact]
    public void Should_parse_an_icmp_query()
    {
        Assert.Equal(new IcmpQuery(5, "fd00::/64", 3, "eth0", "ipv6"),
            QueryParser.Icmp(Q(("limit", "5"), ("address", "fd00::/64"), ("type", "3"), ("interface", "eth0"), ("family", "ipv6")), Interfaces));
    }
}
