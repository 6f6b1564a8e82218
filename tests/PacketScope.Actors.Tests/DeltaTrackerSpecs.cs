// Delta computation without per-entry state: changed since the previous read, idle expiry, evictions from counts.
using PacketScope.Actors.Telemetry;
using PacketScope.Native.Shared;
using Xunit;

namespace PacketScope.Actors.Tests;

public sealed class DeltaTrackerSpecs
{
    private const ulong Ms = 1_000_000;
    private readonly DeltaTracker<ps_flow_key, ps_flow_value> _tracker = new((in ps_flow_value v) => v.last_seen_ns, (in ps_flow_value v) => v.first_seen_ns);
    private readonly ps_flow_key _a = Flows.Key("10.0.0.1", 1000, "10.0.0.2", 80);
    private readonly ps_flow_key _b = Flows.Key("10.0.0.1", 1001, "10.0.0.2", 80);

    private static ps_flow_value V(ulong firstSeen, ulong lastSeen, ulong packets = 1)
    {
        var v = Flows.Value(lastSeen, packetsA: packets);
        v.first_seen_ns = firstSeen;
        return v;
    }

    private (MapChange<ps_flow_key, ps_flow_value>[] Changes, MapRemoval<ps_flow_key>[] Removals) Read(
        ulong at, ulong created, params (ps_flow_key Key, ps_flow_value Value, bool Idle)[] entries)
    {
        _tracker.BeginRead(at);
        foreach (var (k, v, idle) in entries)
            _tracker.Observe(k, v, idle);
        var changes = _tracker.DrainChanges();
        return (changes, _tracker.EndRead(created, deleted: entries.Count(e => e.Idle)));
    }

    [Fact]
    public void Should_publish_every_entry_of_the_first_read_as_a_snapshot()
    {
        _tracker.BeginRead(1000 * Ms);
        Assert.True(_tracker.IsSnapshot);
        _tracker.Observe(_a, V(10 * Ms, 10 * Ms), false);
        _tracker.Observe(_b, V(20 * Ms, 20 * Ms), false);
        var changes = _tracker.DrainChanges();
        Assert.Equal(2, changes.Length);
        Assert.All(changes, c => Assert.True(c.IsNew));
        Assert.Empty(_tracker.EndRead(2, 0));
        Assert.Equal(2, _tracker.Count);
        Assert.Equal(2ul, _tracker.Created);
    }

    [Fact]
    public void Should_publish_only_what_the_kernel_stamped_since_the_previous_read_began()
    {
        Read(1000 * Ms, 2, (_a, V(10 * Ms, 10 * Ms), false), (_b, V(20 * Ms, 20 * Ms), false));
        // b got a packet during the second read's interval; a did not.
        var (changes, removals) = Read(2000 * Ms, 2, (_a, V(10 * Ms, 10 * Ms), false), (_b, V(20 * Ms, 1500 * Ms, 2), false));
        var change = Assert.Single(changes);
        Assert.Equal(_b, change.Key);
        Assert.False(change.IsNew);
        Assert.Empty(removals);
        Assert.False(_tracker.IsSnapshot);
    }

    [Fact]
    public void Should_publish_an_update_stamped_just_before_the_previous_read_again_to_heal_a_torn_copy()
    {
        Read(1000 * Ms, 1, (_a, V(10 * Ms, 10 * Ms), false));
        // Stamped 5 ms before the second read began: that read may have copied it half-written.
        Read(2000 * Ms, 1, (_a, V(10 * Ms, 1995 * Ms, 2), false));
        var (changes, _) = Read(3000 * Ms, 1, (_a, V(10 * Ms, 1995 * Ms, 3), false));
        Assert.Equal(3ul, Assert.Single(changes).Value.side_a.packets);
        var (later, _) = Read(4000 * Ms, 1, (_a, V(10 * Ms, 1995 * Ms, 3), false));
        Assert.Empty(later);
    }

    [Fact]
    public void Should_mark_an_entry_created_since_the_previous_read_as_new()
    {
        Read(1000 * Ms, 1, (_a, V(10 * Ms, 10 * Ms), false));
        var (changes, _) = Read(2000 * Ms, 2, (_a, V(10 * Ms, 10 * Ms), false), (_b, V(1500 * Ms, 1500 * Ms), false));
        Assert.True(Assert.Single(changes).IsNew);
        Assert.Equal(2ul, _tracker.Created);
    }

    [Fact]
    public void Should_list_idle_entries_for_deletion_and_report_them_expired()
    {
        Read(1000 * Ms, 2, (_a, V(10 * Ms, 10 * Ms), false), (_b, V(20 * Ms, 20 * Ms), false));
        _tracker.BeginRead(2000 * Ms);
        _tracker.Observe(_a, V(10 * Ms, 10 * Ms), idle: false);
        _tracker.Observe(_b, V(20 * Ms, 20 * Ms), idle: true);
        Assert.Equal([_b], _tracker.IdleKeys);
        var removals = _tracker.EndRead(2, deleted: 1);
        Assert.Equal(new MapRemoval<ps_flow_key>(_b, RemovalReason.Expired), Assert.Single(removals));
        Assert.Equal(1ul, _tracker.Expired);
        Assert.Equal(0ul, _tracker.Evicted);
        Assert.Equal(1, _tracker.Count);
    }

    [Fact]
    public void Should_derive_evictions_from_the_kernel_s_creation_count_and_follow_them_with_a_snapshot()
    {
        Read(1000 * Ms, 2, (_a, V(10 * Ms, 10 * Ms), false), (_b, V(20 * Ms, 20 * Ms), false));
        // Three flows were ever created, none expired, one is left: two were evicted.
        Read(2000 * Ms, 3, (_a, V(10 * Ms, 10 * Ms), false));
        Assert.Equal(2ul, _tracker.Evicted);
        _tracker.BeginRead(3000 * Ms);
        Assert.True(_tracker.IsSnapshot);
        _tracker.Observe(_a, V(10 * Ms, 10 * Ms), false);
        Assert.Single(_tracker.DrainChanges()); // unchanged, republished so consumers can drop the rest
        _tracker.EndRead(3, 0);
        _tracker.BeginRead(4000 * Ms);
        Assert.False(_tracker.IsSnapshot);
    }

    [Fact]
    public void Should_not_invent_evictions_from_entries_created_after_the_counter_was_read()
    {
        Read(1000 * Ms, 1, (_a, V(10 * Ms, 10 * Ms), false), (_b, V(999 * Ms, 999 * Ms), false));
        Assert.Equal(0ul, _tracker.Evicted);
        _tracker.BeginRead(2000 * Ms);
        Assert.False(_tracker.IsSnapshot);
    }

    [Fact]
    public void Should_republish_everything_after_a_reset()
    {
        Read(1000 * Ms, 2, (_a, V(10 * Ms, 10 * Ms), false), (_b, V(20 * Ms, 20 * Ms), false));
        _tracker.Reset();
        var (changes, _) = Read(2000 * Ms, 2, (_a, V(10 * Ms, 10 * Ms), false), (_b, V(20 * Ms, 20 * Ms), false));
        Assert.Equal(2, changes.Length);
        Assert.All(changes, c => Assert.False(c.IsNew));
        Assert.Equal(2ul, _tracker.Created);
    }
}
