// The map stream actor against a real kernel map: reads it each interval and publishes deltas on the bus.
using Akka.Actor;
using Akka.Streams.Dsl;
using Akka.TestKit.Xunit2;
using PacketScope.Actors.Interfaces;
using PacketScope.Actors.Telemetry;
using PacketScope.Actors.Views;
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Native.Shared;
using Xunit;

namespace PacketScope.Actors.Tests;

public sealed class MapStreamActorSpecs : TestKit
{
    private static readonly ConntrackSettings Settings = new("node", TimeSpan.FromMilliseconds(100), XdpMode.Auto, 4096, 1024, "unused",
        FlowIdleTimeout: TimeSpan.FromSeconds(120), ClosedFlowTimeout: TimeSpan.FromSeconds(10)) { ChunkSize = 64 };

    // The kernel's creation counter, as the tests' maps have no BPF program to keep one.
    private ulong _created;

    private MapStreamSpec<ps_flow_key, ps_flow_value> Spec => new(
        (in ps_flow_value v) => v.last_seen_ns, (in ps_flow_value v) => v.first_seen_ns,
        (in ps_flow_key k, in ps_flow_value v, ulong now) => FlowState.IsIdle(k, v, now, Settings), () => Volatile.Read(ref _created));

    private (TelemetryBus Bus, Akka.TestKit.TestProbe Probe) Subscribe()
    {
        var bus = new TelemetryBus(Sys);
        var probe = CreateTestProbe();
        bus.Source.RunForeach(m => probe.Ref.Tell(m), bus.Materializer);
        return (bus, probe);
    }

    private MapDelta<ps_flow_key, ps_flow_value> NextFinal(Akka.TestKit.TestProbe probe, List<MapChange<ps_flow_key, ps_flow_value>> changes,
        List<MapRemoval<ps_flow_key>> removals)
    {
        while (true)
        {
            var d = probe.ExpectMsg<MapDelta<ps_flow_key, ps_flow_value>>(TimeSpan.FromSeconds(5));
            changes.AddRange(d.Changes);
            removals.AddRange(d.Removals);
            if (d.Final is not null)
                return d;
        }
    }

    [Fact]
    public void Should_publish_every_flow_as_new_in_chunks_then_only_what_changed()
    {
        using var map = BpfMap.Create<ps_flow_key, ps_flow_value>(BpfMapType.LruHash, "ps_t_stream", 4096);
        var now = MonotonicClock.NowNs() - 1_000_000_000; // last packets a second ago: quiet from the second read on
        var keys = Enumerable.Range(0, 300).Select(i => Flows.Key("10.1.0.1", 1000 + i, "10.1.0.2", 80)).ToArray();
        map.UpdateBatch<ps_flow_key, ps_flow_value>(keys, keys.Select(_ => Flows.Value(now)).ToArray());
        _created = 300;
        var (bus, probe) = Subscribe();

        Sys.ActorOf(MapStreamActor<ps_flow_key, ps_flow_value>.Props("veth-t", map, bus, Settings, Spec));

        var changes = new List<MapChange<ps_flow_key, ps_flow_value>>();
        var removals = new List<MapRemoval<ps_flow_key>>();
        var first = NextFinal(probe, changes, removals);
        Assert.Equal(300, changes.Count);
        Assert.All(changes, c => Assert.True(c.IsNew));
        Assert.Equal(300, first.Final!.Active);
        Assert.Equal(4096u, first.Final.Capacity);

        // One flow gets a packet, one disappears behind our back (as an LRU eviction would do).
        map.Update(keys[7], Flows.Value(MonotonicClock.NowNs(), packetsA: 2));
        map.Delete(keys[9]);
        changes.Clear();
        removals.Clear();
        MapDelta<ps_flow_key, ps_flow_value> second;
        do
            second = NextFinal(probe, changes, removals);
        while (changes.Count == 0);
        var change = Assert.Single(changes);
        Assert.Equal(keys[7], change.Key);
        Assert.False(change.IsNew);
        Assert.Empty(removals);
        Assert.Equal(299, second.Final!.Active);
        Assert.Equal(1ul, second.Final.Evicted);

        // The eviction makes the next read a snapshot: all 299 again, so consumers can drop the missing one.
        changes.Clear();
        var snapshot = NextFinal(probe, changes, removals);
        Assert.True(snapshot.Final!.Snapshot);
        Assert.Equal(299, changes.Count);
        Assert.DoesNotContain(changes, c => c.Key.Equals(keys[9]));
    }

    [Fact]
    public void Should_delete_idle_flows_from_the_kernel_map_and_report_them_expired()
    {
        using var map = BpfMap.Create<ps_flow_key, ps_flow_value>(BpfMapType.LruHash, "ps_t_idle", 1024);
        var now = MonotonicClock.NowNs();
        var live = Flows.Key("10.1.0.1", 1000, "10.1.0.2", 80);
        var stale = Flows.Key("10.1.0.1", 1001, "10.1.0.2", 80);
        map.Update(live, Flows.Value(now));
        map.Update(stale, Flows.Value(now));
        _created = 2;
        var (bus, probe) = Subscribe();
        Sys.ActorOf(MapStreamActor<ps_flow_key, ps_flow_value>.Props("veth-t", map, bus, Settings, Spec));
        NextFinal(probe, new(), new());

        // The stale flow last saw a packet 200 s ago: past the 120 s idle timeout.
        var old = Flows.Value(now - 200_000_000_000UL);
        old.first_seen_ns = now - 300_000_000_000UL;
        map.Update(stale, old);
        var removals = new List<MapRemoval<ps_flow_key>>();
        var changes = new List<MapChange<ps_flow_key, ps_flow_value>>();
        while (removals.Count == 0)
            NextFinal(probe, changes, removals);
        Assert.Equal(new MapRemoval<ps_flow_key>(stale, RemovalReason.Expired), Assert.Single(removals));
        Assert.False(map.TryLookup(stale, out ps_flow_value _));
        Assert.True(map.TryLookup(live, out ps_flow_value _));
    }

    [Fact]
    public void Should_feed_the_node_view_that_answers_connection_queries()
    {
        using var map = BpfMap.Create<ps_flow_key, ps_flow_value>(BpfMapType.LruHash, "ps_t_view", 1024);
        var now = MonotonicClock.NowNs();
        map.Update(Flows.Key("10.1.0.1", 1000, "10.1.0.2", 443), Flows.Value(now, bytesA: 5000, packetsB: 3, bytesB: 700));
        _created = 1;
        var bus = new TelemetryBus(Sys);
        var view = Sys.ActorOf(NodeViewActor.Props("node", ["veth-t"], bus));
        Sys.ActorOf(MapStreamActor<ps_flow_key, ps_flow_value>.Props("veth-t", map, bus, Settings, Spec));

        AwaitAssert(() =>
        {
            var response = view.Ask<ConnectionsResponse>(new GetConnections(new ConnectionQuery(Port: 443)), TimeSpan.FromSeconds(3)).Result;
            var flow = Assert.Single(response.Connections);
            Assert.Equal(5700ul, flow.Bytes);
            Assert.Equal("veth-t", flow.Interface);
            Assert.Equal("node", flow.Node);
        }, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Should_bring_a_view_that_subscribed_late_up_to_date_by_a_resync()
    {
        using var map = BpfMap.Create<ps_flow_key, ps_flow_value>(BpfMapType.LruHash, "ps_t_late", 1024);
        var now = MonotonicClock.NowNs();
        map.Update(Flows.Key("10.1.0.1", 1000, "10.1.0.2", 8080), Flows.Value(now, bytesA: 1234));
        _created = 1;
        var (bus, probe) = Subscribe();
        Sys.ActorOf(MapStreamActor<ps_flow_key, ps_flow_value>.Props("veth-t", map, bus, Settings, Spec));
        var changes = new List<MapChange<ps_flow_key, ps_flow_value>>();
        NextFinal(probe, changes, new());
        Assert.Single(changes); // published as new before the view existed; the map never changes again

        var view = Sys.ActorOf(NodeViewActor.Props("node", ["veth-t"], bus));
        AwaitAssert(() =>
        {
            var response = view.Ask<ConnectionsResponse>(new GetConnections(new ConnectionQuery()), TimeSpan.FromSeconds(3)).Result;
            Assert.Equal(1234ul, Assert.Single(response.Connections).Bytes);
        }, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100));
    }
}
