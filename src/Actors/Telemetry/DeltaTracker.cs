// Turns successive full reads of a kernel map into deltas: new, changed, expired and evicted entries.
using System.Runtime.InteropServices;

namespace PacketScope.Actors.Telemetry;

/// <summary>
/// Remembers only a fingerprint of each entry and the read that last saw it, so a million flows
/// cost tens of MB here; the full records live in the consumers. Not thread-safe: one owner.
/// </summary>
public sealed class DeltaTracker<TKey, TValue>
    where TKey : unmanaged, IEquatable<TKey> where TValue : unmanaged
{
    private struct Seen
    {
        public ulong Fingerprint;
        public uint Generation;
    }

    private readonly Func<TValue, ulong> _fingerprint;
    private readonly Dictionary<TKey, Seen> _known = new();
    private readonly List<MapChange<TKey, TValue>> _changes = new();
    private readonly List<TKey> _idle = new();
    private uint _generation;

    public DeltaTracker() : this(v => Telemetry.Fingerprint.Of(v)) { }

    public DeltaTracker(Func<TValue, ulong> fingerprint) => _fingerprint = fingerprint;

    public ulong Created { get; private set; }
    public ulong Expired { get; private set; }
    public ulong Evicted { get; private set; }
    public int Count => _known.Count;

    private bool _resetPending;

    /// <summary>
    /// Makes the next read a snapshot: every entry present is published again (consumers that drifted
    /// resync), while the keys stay known so entries that left are still reported as removals.
    /// </summary>
    public void Reset() => _resetPending = true;

    /// <summary>True while the current read is a snapshot (see <see cref="Reset"/>).</summary>
    public bool IsSnapshot { get; private set; }

    /// <summary>Starts a read; call <see cref="Observe"/> per entry, then <see cref="EndRead"/>.</summary>
    public void BeginRead()
    {
        IsSnapshot = _resetPending;
        _resetPending = false;
        if (IsSnapshot)
            foreach (var key in _known.Keys)
                CollectionsMarshal.GetValueRefOrNullRef(_known, key).Fingerprint = 0;
        _generation++;
        _changes.Clear();
        _idle.Clear();
    }

    /// <summary>
    /// Records one entry of the read. Returns true when it is new or changed. An entry that has
    /// timed out (<paramref name="idle"/>) is listed in <see cref="IdleKeys"/> for deletion instead.
    /// </summary>
    public bool Observe(in TKey key, in TValue value, bool idle)
    {
        if (idle)
        {
            _idle.Add(key);
            return false;
        }
        var seen = _fingerprint(value);
        ref var entry = ref CollectionsMarshal.GetValueRefOrAddDefault(_known, key, out var known);
        entry.Generation = _generation;
        if (known && entry.Fingerprint == seen)
            return false;
        entry.Fingerprint = seen;
        if (!known)
            Created++;
        _changes.Add(new MapChange<TKey, TValue>(key, value, !known));
        return true;
    }

    public int PendingChanges => _changes.Count;

    /// <summary>Changes observed since the last drain (the caller publishes them in chunks).</summary>
    public MapChange<TKey, TValue>[] DrainChanges()
    {
        var result = _changes.ToArray();
        _changes.Clear();
        return result;
    }

    /// <summary>Keys that timed out during this read; the caller deletes them from the kernel map.</summary>
    public IReadOnlyList<TKey> IdleKeys => _idle;

    /// <summary>Finishes the read: entries known before but not seen in it have left, expired (deleted by us) or evicted.</summary>
    public MapRemoval<TKey>[] EndRead()
    {
        var idle = _idle.Count == 0 ? null : new HashSet<TKey>(_idle);
        var removals = new List<MapRemoval<TKey>>();
        foreach (var (key, entry) in _known)
        {
            if (entry.Generation == _generation)
                continue;
            if (idle is not null && idle.Contains(key))
            {
                removals.Add(new MapRemoval<TKey>(key, RemovalReason.Expired));
                Expired++;
            }
            else
            {
                removals.Add(new MapRemoval<TKey>(key, RemovalReason.Evicted));
                Evicted++;
            }
        }
        foreach (var removal in removals)
            _known.Remove(removal.Key);
        return removals.ToArray();
    }
}
