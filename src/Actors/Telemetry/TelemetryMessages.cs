// What the map stream actors publish on the telemetry bus. Node-local: these carry kernel structs.
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Telemetry;

public interface ITelemetry
{
    string Interface { get; }
}

/// <summary>A time reference for converting the kernel's monotonic timestamps: the read time and realtime offset.</summary>
public readonly record struct ReadClock(ulong ReadAtNs, long RealtimeOffsetNs)
{
    public DateTimeOffset ToWallClock(ulong monotonicNs) => Native.MonotonicClock.ToWallClock(monotonicNs, RealtimeOffsetNs);

    public DateTimeOffset ReadAt => ToWallClock(ReadAtNs);
}

public enum RemovalReason
{
    /// <summary>Idle past its timeout: we deleted it from the kernel map. (Evicted entries are not
    /// listed one by one: a snapshot read follows an eviction and consumers drop what it lacks.)</summary>
    Expired,
}

public readonly record struct MapChange<TKey, TValue>(TKey Key, TValue Value, bool IsNew);

public readonly record struct MapRemoval<TKey>(TKey Key, RemovalReason Reason);

/// <summary>
/// Part of one read of a map: entries that are new or changed since the last read, and entries that left.
/// A read is published as several chunks; the last one has <c>Final</c> set and the read's totals.
/// SizeHint: about how many entries the map holds, so a consumer can size its table once.
/// </summary>
public sealed record MapDelta<TKey, TValue>(
    string Interface,
    ReadClock Clock,
    MapChange<TKey, TValue>[] Changes,
    MapRemoval<TKey>[] Removals,
    MapReadSummary? Final,
    long SizeHint = 0) : ITelemetry
    where TKey : unmanaged where TValue : unmanaged;

/// <summary>Totals of one read. Snapshot: every entry present was published in this read (a resync).</summary>
public sealed record MapReadSummary(long Active, ulong Created, ulong Expired, ulong Evicted, uint Capacity, TimeSpan ReadTime,
    bool Snapshot = false);

/// <summary>Per-CPU stats summed over CPUs: [hook * StatId.Max + stat].</summary>
public sealed record StatsReading(string Interface, ReadClock Clock, ps_counter[] Counters, KeyValuePair<ps_icmp_hist_key, ps_counter>[] IcmpHistogram) : ITelemetry;

/// <summary>FlowMap (when attached): the kernel flow map, for consumers that look up a flow's current details.</summary>
public sealed record InterfaceStateChanged(string Interface, int IfIndex, string State, string? XdpMode, string? Error, DateTimeOffset Since,
    Native.BpfMap? FlowMap = null) : ITelemetry;

/// <summary>
/// Asks the map streams of an interface to publish every entry again at their next read, because a
/// consumer's picture diverged (it subscribed late, or a chunk was lost). Sent on the EventStream.
/// </summary>
public sealed record ResyncTelemetry(string Interface);
