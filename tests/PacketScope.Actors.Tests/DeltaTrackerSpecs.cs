// Delta computation: new, changed, unchanged, expired (deleted by us) and evicted (gone by itself).
using PacketScope.Actors.Telemetry;
using PacketScope.Native.Shared;
using Xunit;

namespace PacketScope.Actors.Tests;

public sealed class DeltaTrackerSpecs
{
    private readonly DeltaTracker<ps_flow_key, ps_flow_value> _tracker = new();
    private readonly ps_flow_key _a = Flows.Key("10.0.0.1", 1000, "10.0.0.2", 80);
    private readonly ps_flow_key _b = Flows.Key("10.0.0.1", 1001, "10.0.0.2", 80);

    private (MapChange<ps_flow_key, ps_flow_value>[] Changes, MapRemoval<ps_flow_key>[] Removals) Read(
        params (ps_flow_key Key, ps_flow_value Value, bool Idle)[] entries)
    {
        _tracker.BeginRead();
        foreach (var (k, v, idle) in entries)
            _tracker.Observe(k, v, idle);
        var changes = _tracker.DrainChanges();
        return (changes, _tracker.EndRead());
    }

    [Fact]
    public void Should_report_every_entry_of_the_first_read_as_new()
    {
        var (changes, removals) = Read((_a, Flows.Value(10), false), (_b, Flows.Value(20), false));
        Assert.Equal(2, changes.Length);
        Assert.All(changes, c => Assert.True(c.IsNew));
        Assert.Empty(removals);
        Assert.Equal(2ul, _tracker.Created);
    }

    [Fact]
    public void Should_report_only_entries_whose_last_seen_moved()
    {
        Read((_a, Flows.Value(10), false), (_b, Flows.Value(20), false));
        var (changes, removals) = Read((_a, Flows.Value(10), false), (_b, Flows.Value(25, packetsA: 2), false));
        var change = Assert.Single(changes);
        Assert.Equal(_b, change.Key);
        Assert.False(change.IsNew);
        Assert.Equal(2ul, change.Value.side_a.packets);
        Assert.Empty(removals);
    }

    [Fact]
    public void Should_see_a_change_in_counters_even_when_last_seen_stayed_the_same()
    {
        // A batch read can copy a value mid-update: the new last_seen with the old counters.
        Read((_a, Flows.Value(10, packetsA: 2), false));
        var (changes, _) = Read((_a, Flows.Value(10, packetsA: 3), false));
        Assert.Equal(3ul, Assert.Single(changes).Value.side_a.packets);
    }

    [Fact]
    public void Should_count_an_entry_that_vanished_by_itself_as_evicted()
    {
        Read((_a, Flows.Value(10), false), (_b, Flows.Value(20), false));
        var (changes, removals) = Read((_a, Flows.Value(10), false));
        Assert.Empty(changes);
        var removal = Assert.Single(removals);
        Assert.Equal(new MapRemoval<ps_flow_key>(_b, RemovalReason.Evicted), removal);
        Assert.Equal(1ul, _tracker.Evicted);
        Assert.Equal(0ul, _tracker.Expired);
        Assert.Equal(1, _tracker.Count);
    }

    [Fact]
    public void Should_list_idle_entries_for_deletion_and_report_them_expired()
    {
        Read((_a, Flows.Value(10), false), (_b, Flows.Value(20), false));
        _tracker.BeginRead();
        _tracker.Observe(_a, Flows.Value(10), idle: false);
        _tracker.Observe(_b, Flows.Value(20), idle: true);
        Assert.Equal([_b], _tracker.IdleKeys);
        var removals = _tracker.EndRead();
        Assert.Equal(new MapRemoval<ps_flow_key>(_b, RemovalReason.Expired), Assert.Single(removals));
        Assert.Equal(1ul, _tracker.Expired);
        Assert.Equal(0ul, _tracker.Evicted);
    }

    [Fact]
    public void Should_treat_a_flow_that_comes_back_after_leaving_as_new_again()
    {
        Read((_a, Flows.Value(10), false));
        Read();
        var (changes, _) = Read((_a, Flows.Value(30), false));
        Assert.True(Assert.Single(changes).IsNew);
        Assert.Equal(2ul, _tracker.Created);
    }

    [Fact]
    public void Should_republish_every_entry_after_a_reset_and_still_report_what_left()
    {
        Read((_a, Flows.Value(10), false), (_b, Flows.Value(20), false));
        _tracker.Reset();
        _tracker.BeginRead();
        Assert.True(_tracker.IsSnapshot);
        _tracker.Observe(_a, Flows.Value(10), idle: false);
        var changes = _tracker.DrainChanges();
        var removals = _tracker.EndRead();
        Assert.Equal(_a, Assert.Single(changes).Key); // unchanged, yet published again
        Assert.False(changes[0].IsNew);
        Assert.Equal(new MapRemoval<ps_flow_key>(_b, RemovalReason.Evicted), Assert.Single(removals));
        Assert.Equal(2ul, _tracker.Created); // a resync creates nothing

        var (next, _) = Read((_a, Flows.Value(10), false));
        Assert.Empty(next);
        Assert.False(_tracker.IsSnapshot);
    }
}
