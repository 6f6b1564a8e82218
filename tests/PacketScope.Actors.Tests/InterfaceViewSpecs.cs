// The in-memory view: applying deltas, rates, filters and top-N queries.
using PacketScope.Actors.Telemetry;
using PacketScope.Actors.Views;
using PacketScope.Messages;
using PacketScope.Native.Shared;
using Xunit;

namespace PacketScope.Actors.Tests;

public sealed class InterfaceViewSpecs
{
    private const ulong Second = 1_000_000_000;
    private readonly InterfaceView _view = new("eth0");

    private void Apply(ulong readAt, params (ps_flow_key Key, ps_flow_value Value)[] changes) =>
        _view.Apply(new MapDelta<ps_flow_key, ps_flow_value>("eth0", new ReadClock(readAt, 0),
            changes.Select(c => new MapChange<ps_flow_key, ps_flow_value>(c.Key, c.Value, false)).ToArray(), [], null));

    [Fact]
    public void Should_return_the_top_flows_by_bytes_with_the_total_before_the_limit()
    {
        for (var i = 1; i <= 50; i++)
            Apply(Second, (Flows.Key("10.0.0.1", 1000 + i, "10.0.0.2", 80), Flows.Value(Second, bytesA: (ulong)i * 10)));
        var (total, top) = _view.Query("n", new ConnectionQuery(Limit: 3));
        Assert.Equal(50, total);
        Assert.Equal([500ul, 490ul, 480ul], top.Select(r => r.Bytes));
    }

    [Fact]
    public void Should_filter_by_address_prefix_port_and_protocol()
    {
        Apply(Second,
            (Flows.Key("10.0.0.1", 1000, "10.0.0.2", 80), Flows.Value(Second)),
            (Flows.Key("10.0.0.1", 1001, "192.168.1.9", 443), Flows.Value(Second)),
            (Flows.Key("10.0.0.1", 1002, "192.168.1.9", 53, proto: 17), Flows.Value(Second)));
        Assert.Equal(2, _view.Query("n", new ConnectionQuery(Address: "192.168.0.0/16")).Total);
        Assert.Equal(1, _view.Query("n", new ConnectionQuery(Port: 443)).Total);
        Assert.Equal(1, _view.Query("n", new ConnectionQuery(Protocol: 17)).Total);
        Assert.Equal(1, _view.Query("n", new ConnectionQuery(Address: "10.0.0.2")).Total);
        Assert.Equal(0, _view.Query("n", new ConnectionQuery(Address: "10.0.0.2", Protocol: 17)).Total);
    }

    [Fact]
    public void Should_compute_per_second_rates_between_reads_and_zero_for_idle_flows()
    {
        var busy = Flows.Key("10.0.0.1", 1000, "10.0.0.2", 80);
        var idle = Flows.Key("10.0.0.1", 1001, "10.0.0.2", 80);
        Apply(Second, (busy, Flows.Value(Second, packetsA: 10, bytesA: 1000)), (idle, Flows.Value(Second, packetsA: 10, bytesA: 1000)));
        Apply(3 * Second, (busy, Flows.Value(3 * Second, packetsA: 30, bytesA: 5000)));
        var top = _view.Query("n", new ConnectionQuery(Sort: ConnectionSort.Rate)).Top;
        Assert.Equal(2000, top[0].BytesPerSecond, 3);
        Assert.Equal(10, top[0].PacketsPerSecond, 3);
        Assert.Equal(0, top[1].BytesPerSecond);
    }

    [Fact]
    public void Should_drop_removed_flows()
    {
        var k = Flows.Key("10.0.0.1", 1000, "10.0.0.2", 80);
        Apply(Second, (k, Flows.Value(Second)));
        _view.Apply(new MapDelta<ps_flow_key, ps_flow_value>("eth0", new ReadClock(2 * Second, 0), [],
            [new MapRemoval<ps_flow_key>(k, RemovalReason.Expired)], new MapReadSummary(0, 1, 1, 0, 1024, TimeSpan.Zero)));
        Assert.Equal(0, _view.FlowCount);
        Assert.Equal(1ul, _view.FlowSummary!.Expired);
    }

    [Fact]
    public void Should_drop_what_a_snapshot_read_did_not_republish()
    {
        var kept = Flows.Key("10.0.0.1", 1000, "10.0.0.2", 80);
        var stale = Flows.Key("10.0.0.1", 1001, "10.0.0.2", 80);
        Apply(Second, (kept, Flows.Value(Second)), (stale, Flows.Value(Second)));
        _view.Apply(new MapDelta<ps_flow_key, ps_flow_value>("eth0", new ReadClock(2 * Second, 0),
            [new MapChange<ps_flow_key, ps_flow_value>(kept, Flows.Value(Second), false)], [],
            new MapReadSummary(1, 2, 0, 0, 1024, TimeSpan.Zero, Snapshot: true)));
        Assert.Equal(1, _view.FlowCount);
        Assert.Equal(1, _view.Query("n", new ConnectionQuery(Port: 1000)).Total);
    }

    [Fact]
    public void Should_never_report_a_negative_or_wrapped_rate_when_counters_go_back()
    {
        var k = Flows.Key("10.0.0.1", 1000, "10.0.0.2", 80);
        Apply(Second, (k, Flows.Value(Second, packetsA: 100, bytesA: 100_000)));
        // Evicted and recreated between two reads: smaller counters.
        Apply(2 * Second, (k, Flows.Value(2 * Second, packetsA: 1, bytesA: 60)));
        var flow = Assert.Single(_view.Query("n", new ConnectionQuery(Sort: ConnectionSort.Rate)).Top);
        Assert.Equal(0, flow.BytesPerSecond);
        Assert.Equal(0, flow.PacketsPerSecond);
    }
}
