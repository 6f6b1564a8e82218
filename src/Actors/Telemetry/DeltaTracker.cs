// Turns successive full reads of a kernel map into deltas, keeping no per-entry state in user space.
namespace PacketScope.Actors.Telemetry;

/// <summary>A kernel timestamp of an entry (CLOCK_MONOTONIC ns); by reference, values are large.</summary>
public delegate ulong ValueStamp<TValue>(in TValue value) where TValue : unmanaged;

/// <summary>
/// An entry changed if the kernel stamped it (last_seen) after the previous read began, less a
/// margin: a read may copy a value while a CPU updates it, and such a torn copy is always followed
/// by a clean one in the next read. Entries leave the map only by our idle deletions or by LRU
/// eviction, and the kernel counts every creation, so evictions are derived from counts; when there
/// were some, the next read is a snapshot (every entry republished) so consumers can drop the rest.
/// Not thread-safe: one owner (a map stream actor).
/// </summary>
public sealed class DeltaTracker<TKey, TValue>
    where TKey : unmanaged where TValue : unmanaged
{
    /// <summary>Longer than any BPF program run between taking its timestamp and writing the entry.</summary>
    private const ulong MarginNs = 10_000_000;

    private readonly ValueStamp<TValue> _lastSeen;
    private readonly ValueStamp<TValue> _firstSeen;
    private readonly List<TKey> _idle = new();
    private readonly int _chunkSize;
    private readonly Queue<MapChange<TKey, TValue>[]> _full = new();
    private MapChange<TKey, TValue>[] _changes;
    private int _pending;
    private ulong _threshold, _changedSince, _nextThreshold;
    private bool _snapshotPending = true;
    private long _read;

    public DeltaTracker(ValueStamp<TValue> lastSeen, ValueStamp<TValue> firstSeen, int chunkSize = 256)
    {
        _lastSeen = lastSeen;
        _firstSeen = firstSeen;
        _chunkSize = chunkSize;
        _changes = new MapChange<TKey, TValue>[chunkSize];
    }

    /// <summary>Entries created in the kernel, as of the start of the last read.</summary>
    public ulong Created { get; private set; }
    /// <summary>Entries we deleted as idle.</summary>
    public ulong Expired { get; private set; }
    /// <summary>Entries the kernel evicted (LRU full), derived from the counts.</summary>
    public ulong Evicted { get; private set; }
    /// <summary>Entries in the map at the last read.</summary>
    public long Count { get; private set; }
    /// <summary>True while the current read republishes every entry.</summary>
    public bool IsSnapshot { get; private set; }

    /// <summary>Makes the next read a snapshot, for consumers that drifted (joined late, lost a chunk).</summary>
    public void Reset() => _snapshotPending = true;

    /// <summary>Starts a read that began at <paramref name="readStartNs"/> (CLOCK_MONOTONIC).</summary>
    public void BeginRead(ulong readStartNs)
    {
        IsSnapshot = _snapshotPending;
        _snapshotPending = false;
        _changedSince = IsSnapshot ? 0 : _threshold;
        _nextThreshold = readStartNs > MarginNs ? readStartNs - MarginNs : 0;
        _read = 0;
        _pending = 0;
        _full.Clear();
        _idle.Clear();
    }

    /// <summary>
    /// Records one entry of the read; returns true when it is published (changed, or a snapshot).
    /// An entry that has timed out (<paramref name="idle"/>) is listed in <see cref="IdleKeys"/> for deletion instead.
    /// </summary>
    public bool Observe(in TKey key, in TValue value, bool idle)
    {
        if (idle)
        {
            _idle.Add(key);
            return false;
        }
        _read++;
        if (_lastSeen(value) < _changedSince)
            return false;
        _changes[_pending++] = new MapChange<TKey, TValue>(key, value, _firstSeen(value) >= _threshold);
        if (_pending == _chunkSize)
        {
            // A full chunk is handed over as it is: no second copy of a million changes.
            _full.Enqueue(_changes);
            // Every slot is written before the chunk is handed over: skip zeroing 55 KB per chunk.
            _changes = GC.AllocateUninitializedArray<MapChange<TKey, TValue>>(_chunkSize);
            _pending = 0;
        }
        return true;
    }

    /// <summary>The next full chunk of changes (the caller owns it), if one is ready.</summary>
    public bool TryTakeChunk(out MapChange<TKey, TValue>[] chunk) => _full.TryDequeue(out chunk!);

    /// <summary>Every change not yet taken (full chunks and the partial one), in one array the caller owns.</summary>
    public MapChange<TKey, TValue>[] DrainChanges()
    {
        var result = new MapChange<TKey, TValue>[_full.Count * _chunkSize + _pending];
        var at = 0;
        while (_full.TryDequeue(out var chunk))
        {
            chunk.CopyTo(result, at);
            at += chunk.Length;
        }
        _changes.AsSpan(0, _pending).CopyTo(result.AsSpan(at));
        _pending = 0;
        return result;
    }

    /// <summary>Keys that timed out during this read; the caller deletes them from the kernel map.</summary>
    public IReadOnlyList<TKey> IdleKeys => _idle;

    /// <summary>
    /// Finishes the read. <paramref name="createdBeforeRead"/> is the kernel's creation counter read
    /// before the read began; <paramref name="deleted"/> how many idle entries the caller deleted.
    /// Returns the removals to publish (the idle entries).
    /// </summary>
    public MapRemoval<TKey>[] EndRead(ulong createdBeforeRead, int deleted)
    {
        Expired += (ulong)deleted;
        Count = _read;
        Created = Math.Max(Created, createdBeforeRead);
        _threshold = _nextThreshold;
        // Entries created after the counter was read may be in this read: that only lowers the
        // estimate for now, never invents an eviction.
        var evicted = (long)createdBeforeRead - (long)Expired - _read;
        if (evicted > (long)Evicted)
        {
            Evicted = (ulong)evicted;
            _snapshotPending = true;
        }
        var removals = new MapRemoval<TKey>[_idle.Count];
        for (var i = 0; i < removals.Length; i++)
            removals[i] = new MapRemoval<TKey>(_idle[i], RemovalReason.Expired);
        return removals;
    }
}
