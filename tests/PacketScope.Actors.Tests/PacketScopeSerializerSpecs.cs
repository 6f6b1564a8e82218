// Our wire format: every message type round-trips through the serializer Akka binds to it, and bad input fails clearly.
using System.Collections;
using System.Reflection;
using System.Runtime.Serialization;
using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using Akka.TestKit.Xunit2;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Wire;
using PacketScope.Messages;
using Xunit;
using Xunit.Abstractions;

namespace PacketScope.Actors.Tests;

public sealed class PacketScopeSerializerSpecs : TestKit
{
    private readonly ITestOutputHelper _output;

    public PacketScopeSerializerSpecs(ITestOutputHelper output)
        : base(ConfigurationFactory.ParseString(PacketScopeSerializer.Hocon), output: output) => _output = output;

    private static readonly DateTimeOffset T1 = new DateTimeOffset(2025, 3, 14, 9, 26, 53, TimeSpan.FromHours(2)).AddTicks(5_897_932);
    private static readonly DateTimeOffset T2 = new(2025, 6, 30, 23, 59, 59, 999, TimeSpan.FromMinutes(-210));
    private static readonly DateTimeOffset T3 = new(2026, 1, 1, 0, 0, 1, TimeSpan.FromMinutes(345));

    private static readonly FilterRuleSpec FullSpec = new(
        FilterRuleType.Icmp, 1, new AddressMatch("10.1.0.0", 16, false), new AddressMatch("fd00::", 64, true), new PortRange(1024, 65535),
        new PortRange(443, 443), 0x12, 0x3f, 3, 4, new AddressMatch("192.0.2.1", 32, false), new AddressMatch("2001:db8::1", 128, true), 17,
        new PortRange(53, 53), new PortRange(5000, 5100), FilterAction.Monitor, true, "unreachables, ütf-8 ✓", 42, T3,
        new FilterProvenance(true, 0.87, "many unreachables from one source"));

    private static readonly FilterRuleSpec BareSpec = new(
        FilterRuleType.Basic, 0, null, null, null, null, 0, 0, null, null, null, null, null, null, null, FilterAction.Drop, false, "", null, null);

    private static readonly FilterRule Rule1 = new(7, 3, FullSpec, T1, T2);
    private static readonly FilterRule Rule2 = new(8, 0, BareSpec, T2, T3);

    private static readonly InterfaceStatus Attached = new("eth0", 2, "attached", "native", "none so far", T1);
    private static readonly InterfaceStatus Failed = new("eth1", 3, "failed", null, null, T2);

    private static FlowDirection Direction(int i) => new(
        (ulong)(10 + i), (ulong)(1500 + i), (ulong)(1200 + i), (ulong)(1100 + i), 0x18, ["ACK", "PSH"], 0xfedc_ba98u - (uint)i, 0x8000_0001u + (uint)i,
        64_240, 54_321, 64, 2, 1, 3, 4);

    private static FlowRecord Flow(int i) => new(
        "node-a", "eth0", "TCP", "IPv4", 100 + i, $"10.0.{i / 250}.{i % 250 + 1}", 40_000 + i, "192.0.2.80", 443, "ESTABLISHED",
        Direction(i), Direction(i + 1), (ulong)(20 + i), (ulong)(3000 + i), T1, T2, 12.5 + i, 18_750.25 + i,
        $"eth0/6/10.0.0.{i}:{40_000 + i}/192.0.2.80:443", "[ACK, PSH] Seq=1 Ack=1 Win=64240");

    private static readonly IcmpRecord EchoRequest = new(
        "node-a", "eth0", "ingress", "IPv4", 8, 0, "Echo Request", false, "10.0.0.1", "10.0.0.2", 12, 5, 420, 1.5, T1, T2, 0x1234, 7, null,
        "eth0/1/10.0.0.1/10.0.0.2/8/0/4660", "Echo (ping) request id=0x1234, seq=7");

    private static readonly IcmpRecord Unreachable = new(
        "node-b", "eth1", "egress", "IPv6", 1, 4, "Destination Unreachable", true, "fd00::1", "fd00::2", 0, 1, 90, 0.25, T2, T3, null, null,
        new IcmpInnerPacket("UDP", "fd00::2", 5353, "fd00::9", 53), "eth1/58/fd00::1/fd00::2/1/4", "port unreachable");

    private static InterfaceStats Stats(string name, int i) => new(
        name, T3,
        new Dictionary<string, Counter> { ["tcp"] = new(100UL + (ulong)i, 150_000, 10.5, 15_000.75), ["udp"] = new(7, 700, 0.5, 50.25) },
        new Dictionary<string, Counter> { ["icmp"] = new(3, 252, 0.1, 8.4), ["other"] = new(1, 64, 0.01, 0.64) },
        [new IcmpTypeCount("IPv4", "ingress", 3, 3, "Destination Unreachable", 5, 420), new IcmpTypeCount("IPv6", "egress", 128, 0, "Echo Request", 2, 208)],
        new FlowTableStats(-1 + 42 * (i + 1), 1000, 958, 1_048_576),
        new TelemetryLosses(1, 2, 3, 4), i == 0 ? "native" : null);

    /// <summary>Every message type with a value in every field; a type with nullables once with them set and once null.</summary>
    private static readonly IReadOnlyList<(string Name, IPacketScopeMessage Message)> Samples =
    [
        // Filters.cs
        ("FilterRule", Rule1),
        ("AddFilter", new AddFilter(FullSpec)),
        ("AddFilter bare", new AddFilter(BareSpec)),
        ("AddFilter provenance nulls", new AddFilter(BareSpec with { Provenance = new FilterProvenance(false, null, null) })),
        ("UpdateFilter", new UpdateFilter(7, FullSpec, T2)),
        ("UpdateFilter nulls", new UpdateFilter(8, BareSpec)),
        ("RemoveFilter", new RemoveFilter(7)),
        ("SetFilterEnabled", new SetFilterEnabled(7, true)),
        ("GetFilters", GetFilters.Instance),
        ("GetFiltersSince", new GetFiltersSince(-1)),
        ("FiltersUpToDate", new FiltersUpToDate(long.MaxValue)),
        ("FiltersResponse", new FiltersResponse(12, [Rule1, Rule2], 9)),
        ("FilterCommandResult", new FilterCommandResult(true, Rule1, 12, "priority taken", "priority", true, true)),
        ("FilterCommandResult nulls", new FilterCommandResult(false, null, 12)),
        ("FilterRuleSetChanged", new FilterRuleSetChanged(12, [Rule1, Rule2], 9)),
        ("FilterRuleSetAdvanced", new FilterRuleSetAdvanced(long.MaxValue)),
        // Cluster.cs
        ("GetHeldRuleSet", GetHeldRuleSet.Instance),
        ("GetNodeInfo", GetNodeInfo.Instance),
        ("NodeInfo", new NodeInfo("node-a", "akka.tcp://packetscope@10.0.0.1:4053", ["guard", "web"], true, [Attached, Failed], "1.2.3", 12, T1)),
        // Flows.cs
        ("GetConnections", new GetConnections(new ConnectionQuery(500, ConnectionSort.Rate, "10.0.0.0/8", 443, 6, "eth0", "ESTABLISHED", Offset: 1000))),
        ("GetConnections nulls", new GetConnections(new ConnectionQuery())),
        ("ConnectionsResponse", new ConnectionsResponse(1234, [Flow(1), Flow(2)])),
        // Icmp.cs
        ("GetIcmp", new GetIcmp(new IcmpQuery(50, "10.0.0.1", 8, "eth1", "ipv4"))),
        ("GetIcmp nulls", new GetIcmp(new IcmpQuery())),
        ("IcmpResponse", new IcmpResponse(77, [EchoRequest, Unreachable])),
        // Stats.cs
        ("GetStats", GetStats.Instance),
        ("StatsResponse", new StatsResponse("node-a", T1, [Stats("eth0", 0), Stats("eth1", 1)])),
        ("GetNodeStatus", GetNodeStatus.Instance),
        ("NodeStatus", new NodeStatus("node-a", true, [Attached, Failed])),
        // Actors/Guard/FilterEvents.cs
        ("FilterAdded", new FilterAdded(Rule1)),
        ("FilterUpdated", new FilterUpdated(Rule2)),
        ("FilterRemoved", new FilterRemoved(7, T1)),
        ("FilterExpired", new FilterExpired(8, T2)),
        ("FilterRuleSetAdopted", new FilterRuleSetAdopted(12, [Rule1, Rule2], 9, "node-b", T3)),
    ];

    public static TheoryData<string> SampleNames => new(Samples.Select(s => s.Name));

    private static IPacketScopeMessage Sample(string name) => Samples.Single(s => s.Name == name).Message;

    private static IReadOnlyList<Type> MessageTypes() =>
        new[] { typeof(IPacketScopeMessage).Assembly, typeof(PacketScopeSerializer).Assembly }
            .SelectMany(a => a.GetTypes())
            .Where(t => typeof(IPacketScopeMessage).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
            .ToList();

    private (byte[] Bytes, string Manifest) Write(object message)
    {
        var serializer = Assert.IsType<PacketScopeSerializer>(Sys.Serialization.FindSerializerFor(message));
        return (serializer.ToBinary(message), serializer.Manifest(message));
    }

    private object Read(byte[] bytes, string manifest) => Sys.Serialization.Deserialize(bytes, PacketScopeSerializer.SerializerId, manifest);

    private static void AssertSameValue(object expected, object actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        Assert.Equal(JsonSerializer.Serialize(expected, expected.GetType()), JsonSerializer.Serialize(actual, actual.GetType()));
    }

    [Theory]
    [MemberData(nameof(SampleNames))]
    public void Should_round_trip_every_message_through_the_serializer_bound_to_the_marker_interface(string name)
    {
        var message = Sample(name);

        var (bytes, manifest) = Write(message);
        var back = Read(bytes, manifest);

        Assert.Equal(PacketScopeSerializer.SerializerId, Sys.Serialization.FindSerializerFor(message).Identifier);
        AssertSameValue(message, back);
    }

    [Fact]
    public void Should_have_a_manifest_and_a_sample_for_every_message_type_in_both_assemblies()
    {
        var types = MessageTypes();

        var withoutManifest = types.Except(PacketScopeSerializer.Manifests.Select(m => m.Type)).Select(t => t.Name).ToList();
        var withoutSample = types.Except(Samples.Select(s => s.Message.GetType())).Select(t => t.Name).ToList();

        Assert.True(withoutManifest.Count == 0, $"no manifest for {string.Join(", ", withoutManifest)}");
        Assert.True(withoutSample.Count == 0, $"no sample for {string.Join(", ", withoutSample)}");
        Assert.Contains(typeof(FilterRuleSetAdopted), types); // the Actors assembly was searched too
    }

    [Fact]
    public void Should_fill_every_field_of_every_sample_and_leave_every_nullable_null_once()
    {
        var seen = new Dictionary<PropertyInfo, (bool Filled, bool Null)>();
        foreach (var (_, message) in Samples) Walk(message, seen);

        var unfilled = seen.Where(p => !p.Value.Filled).Select(p => Describe(p.Key)).ToList();
        var nullability = new NullabilityInfoContext();
        var neverNull = seen.Where(p => nullability.Create(p.Key).ReadState == NullabilityState.Nullable && !p.Value.Null)
            .Select(p => Describe(p.Key)).ToList();

        Assert.True(unfilled.Count == 0, $"default in every sample (lists and dictionaries need 2+ entries, times a non-zero offset): {string.Join(", ", unfilled)}");
        Assert.True(neverNull.Count == 0, $"never null in any sample: {string.Join(", ", neverNull)}");
    }

    [Fact]
    public void Should_map_each_manifest_to_one_message_type_and_each_type_to_one_manifest()
    {
        var manifests = PacketScopeSerializer.Manifests;

        Assert.All(manifests, m => Assert.True(typeof(IPacketScopeMessage).IsAssignableFrom(m.Type), $"{m.Manifest}: {m.Type.Name}"));
        Assert.Equal(manifests.Count, manifests.Select(m => m.Manifest).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(manifests.Count, manifests.Select(m => m.Type).Distinct().Count());
        Assert.All(manifests, m => Assert.DoesNotContain(m.Type.Name, m.Manifest, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Should_read_a_version_1_journal_event_written_before_rules_had_a_provenance()
    {
        // FilterAdded as version 1 wrote it: rule 3, priority 2, tcp dst 10.0.0.0/8 port 23, drop, "Block Telnet".
        var v1 = Convert.FromHexString(
            "010604020600010831302E302E302E30100000012E2E00000000000000000000010C426C6F636B2054656C6E65740000805CBA97C962DD08F001805CBA97C962DD08F001");

        var added = Assert.IsType<FilterAdded>(Read(v1, "fe.add"));

        Assert.Equal(3, added.Rule.Id);
        Assert.Equal("Block Telnet", added.Rule.Spec.Comment);
        Assert.Equal(new PortRange(23, 23), added.Rule.Spec.DstPort);
        Assert.Null(added.Rule.Spec.Provenance);
        // Written again, it is version 2 and keeps what it says.
        var (v2, manifest) = Write(added);
        Assert.Equal(2, v2[0]);
        AssertSameValue(added, Read(v2, manifest));
    }

    [Fact]
    public void Should_refuse_an_unknown_manifest_and_name_it()
    {
        var (bytes, _) = Write(new RemoveFilter(7));

        var e = Assert.Throws<SerializationException>(() => Read(bytes, "no-such-manifest"));

        Assert.Contains("'no-such-manifest'", e.Message);
    }

    [Fact]
    public void Should_refuse_a_newer_or_invalid_format_version_and_name_it()
    {
        var (bytes, manifest) = Write(new RemoveFilter(7));
        Assert.Equal(MessageCodec.Version, bytes[0]);

        bytes[0] = 99;
        var newer = Assert.Throws<SerializationException>(() => Read(bytes, manifest));
        bytes[0] = 0;
        var zero = Assert.Throws<SerializationException>(() => Read(bytes, manifest));

        Assert.Contains("version 99", newer.Message);
        Assert.Contains($"'{manifest}'", newer.Message);
        Assert.Contains("version 0", zero.Message);
    }

    [Fact]
    public void Should_refuse_every_truncated_or_overlong_payload_with_a_serialization_exception()
    {
        foreach (var (name, message) in Samples)
        {
            var (bytes, manifest) = Write(message);
            for (var length = 0; length < bytes.Length; length++)
            {
                var cut = bytes[..length];
                var e = Assert.Throws<SerializationException>(() => Read(cut, manifest)); // exactly this type: nothing else leaks out
                Assert.True(e.Message.Contains($"'{manifest}'"), $"{name} cut to {length} bytes: {e.Message}");
            }
            Assert.Throws<SerializationException>(() => Read([.. bytes, 0], manifest));
        }
    }

    [Fact]
    public void Should_refuse_corrupt_counts_flags_and_enums_without_allocating_for_them()
    {
        var (rules, rulesManifest) = Write(new FiltersResponse(1, [], 1));
        rules[2] = 0xfe; // the rule count, as a varint that claims far more than the payload holds
        var (bare, addManifest) = Write(new AddFilter(BareSpec));
        var badEnum = bare.ToArray();
        badEnum[1] = 2 * 9; // RuleType 9 (zigzag)
        var badFlag = bare.ToArray();
        badFlag[3] = 2; // the SrcIp presence byte

        Assert.Contains("count", Assert.Throws<SerializationException>(() => Read(rules, rulesManifest)).Message);
        Assert.Contains("FilterRuleType", Assert.Throws<SerializationException>(() => Read(badEnum, addManifest)).Message);
        Assert.Contains("not 0 or 1", Assert.Throws<SerializationException>(() => Read(badFlag, addManifest)).Message);
    }

    [Fact]
    public void Should_return_the_same_instance_for_data_free_messages()
    {
        var singletons = MessageTypes()
            .Select(t => t.GetField("Instance", BindingFlags.Public | BindingFlags.Static)?.GetValue(null))
            .OfType<IPacketScopeMessage>()
            .ToList();

        Assert.Contains(GetFilters.Instance, singletons);
        foreach (var instance in singletons)
        {
            var (bytes, manifest) = Write(instance);
            Assert.Single(bytes); // the version byte alone
            Assert.Same(instance, Read(bytes, manifest));
        }
    }

    [Fact]
    public void Should_write_a_hundred_connections_in_fewer_bytes_than_akkas_default_json()
    {
        var response = new ConnectionsResponse(100_000, Enumerable.Range(0, 100).Select(Flow).ToArray());

        var ours = Write(response).Bytes.Length;
        var json = new NewtonSoftJsonSerializer((ExtendedActorSystem)Sys).ToBinary(response).Length;

        _output.WriteLine($"ConnectionsResponse with 100 flows: PacketScopeSerializer {ours} bytes, NewtonSoftJsonSerializer {json} bytes ({(double)json / ours:F1}x)");
        Assert.True(ours < json, $"ours {ours} bytes, json {json} bytes");
    }

    private static string Describe(PropertyInfo p) => $"{p.DeclaringType!.Name}.{p.Name}";

    // Records every property of every PacketScope record reachable from value: filled somewhere, null somewhere.
    private static void Walk(object value, Dictionary<PropertyInfo, (bool Filled, bool Null)> seen)
    {
        var type = value.GetType();
        if (type.Namespace?.StartsWith("PacketScope.", StringComparison.Ordinal) != true || type.IsEnum) return;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var v = property.GetValue(value);
            var (filled, wasNull) = seen.GetValueOrDefault(property);
            seen[property] = (filled || IsFilled(v), wasNull || v is null);
            switch (v)
            {
                case null or string:
                    break;
                case IDictionary map:
                    foreach (DictionaryEntry entry in map) Walk(entry.Value!, seen);
                    break;
                case IEnumerable items:
                    foreach (var item in items) Walk(item, seen);
                    break;
                default:
                    Walk(v, seen);
                    break;
            }
        }
    }

    private static bool IsFilled(object? value) => value switch
    {
        null => false,
        string s => s.Length > 0,
        DateTimeOffset t => t.Offset != TimeSpan.Zero,
        ICollection c => c.Count >= 2,
        _ when value.GetType().IsValueType => !value.Equals(Activator.CreateInstance(value.GetType())),
        _ => true,
    };
}
