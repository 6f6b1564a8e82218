// The API's JSON: snake_case names, numbers as numbers, times as ISO 8601 strings, the seed's key/info strings.
using System.Text.Json;
using PacketScope.Messages;
using PacketScope.Web.Api;
using Xunit;

namespace PacketScope.Web.Tests;

public sealed class JsonShapeSpecs
{
    private static readonly FlowDirection Side = new(3, 300, 200, 200, 0x12, ["SYN", "ACK"], 1, 2, 502, 7, 64, 0, 0, 0, 0);

    [Fact]
    public void Should_write_a_flow_record_as_the_README_documents_it()
    {
        var record = new FlowRecord("n1", "eth0", "TCP", "ipv4", 0, "10.0.0.1", 40000, "10.0.0.2", 443, "established", Side, Side,
            6, 600, new DateTimeOffset(2026, 11, 23, 5, 21, 29, 317, TimeSpan.Zero), new DateTimeOffset(2026, 11, 23, 5, 21, 31, TimeSpan.Zero),
            1.5, 1500.25, "10.0.0.1:40000 -> 10.0.0.2:443 (TCP)", "Packets: 6");
        var json = JsonDocument.Parse(JsonSerializer.Serialize(record, ConnectionsApi.Json)).RootElement;

        Assert.Equal(JsonValueKind.Number, json.GetProperty("src_port").ValueKind);
        Assert.Equal(JsonValueKind.Number, json.GetProperty("bytes_per_second").ValueKind);
        Assert.Equal("2026-11-23T05:21:29.317+00:00", json.GetProperty("first_seen").GetString());
        Assert.Equal("10.0.0.1:40000 -> 10.0.0.2:443 (TCP)", json.GetProperty("key").GetString()); // "->" unescaped
        Assert.Equal(200ul, json.GetProperty("orig").GetProperty("data_bytes").GetUInt64());
        Assert.Equal(["SYN", "ACK"], json.GetProperty("reply").GetProperty("tcp_flag_names").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(64, json.GetProperty("orig").GetProperty("ttl").GetInt32());
    }

    [Fact]
    public void Should_write_an_error_with_the_field_and_the_reason()
    {
        var json = JsonDocument.Parse(JsonSerializer.Serialize(new ApiError("invalid parameter 'port': bad", "port", "bad"), ConnectionsApi.Json)).RootElement;
        Assert.Equal("port", json.GetProperty("field").GetString());
        Assert.Equal("bad", json.GetProperty("reason").GetString());
        Assert.StartsWith("invalid parameter", json.GetProperty("error").GetString());
    }
}
