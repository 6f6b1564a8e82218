// What the Guarder holds on this node outside any one actor: the current kernel image, and each
// interface's rule tables (for hit counters and for knowing the rules are in the kernel). Written by
// GuardActor and the InterfaceActors, read by the REST layer and the readiness check.
using System.Collections.Concurrent;
using PacketScope.Messages;
using PacketScope.Native;

namespace PacketScope.Actors.Guard;

public sealed class GuardState
{
    private readonly ConcurrentDictionary<string, FilterTables> _tables = new();
    private volatile FilterImage? _current;

    /// <summary>The latest compiled rule set; null until the store has answered once.</summary>
    public FilterImage? Current => _current;

    internal void SetCurrent(FilterImage image) => _current = image;

    private volatile FilterRuleSetChanged? _lastKnown;
    private volatile bool _stale;

    /// <summary>The rule set read from this node's disk at start, until the store answers; null otherwise.</summary>
    public FilterRuleSetChanged? LastKnown => _stale ? _lastKnown : null;

    /// <summary>True while the rules enforced are the last known ones from disk: the rule store has not answered yet.</summary>
    public bool Stale => _stale;

    /// <summary>At start, before any interface attaches: the rules this node last had, compiled, enforced until the store answers.</summary>
    public void Restore(FilterRuleSetChanged set)
    {
        _current = KernelRuleSet.Build(set);
        _lastKnown = set;
        _stale = true;
    }

    internal void MarkAnswered() => _stale = false;

    internal void Register(string iface, FilterTables tables) => _tables[iface] = tables;

    internal void Unregister(string iface, FilterTables tables) => _tables.TryRemove(new KeyValuePair<string, FilterTables>(iface, tables));

    /// <summary>The rule-set version each attached interface classifies by.</summary>
    public IReadOnlyDictionary<string, long> Applied => _tables.ToDictionary(t => t.Key, t => t.Value.AppliedVersion);

    /// <summary>True once the current rule set is in the kernel of every one of these interfaces.</summary>
    public bool AppliedEverywhere(IEnumerable<string> interfaces) =>
        _current is { } current && interfaces.All(i => _tables.TryGetValue(i, out var t) && t.AppliedVersion >= current.Version);

    /// <summary>Hit counters of these rules, summed over interfaces and CPUs.</summary>
    public Dictionary<int, FilterHits> Hits(IReadOnlyCollection<int> ids)
    {
        var sum = new Dictionary<int, FilterHits>();
        foreach (var tables in _tables.Values)
        {
            Dictionary<uint, FilterHits> hits;
            try
            {
                hits = tables.ReadHits(ids.Select(i => (uint)i));
            }
            catch (ObjectDisposedException)
            {
                continue; // the interface detached while we read
            }
            foreach (var (id, h) in hits)
                sum[(int)id] = sum.TryGetValue((int)id, out var s)
                    ? new FilterHits(s.Packets + h.Packets, s.Bytes + h.Bytes, Math.Max(s.LastHitNs, h.LastHitNs))
                    : h;
        }
        return sum;
    }
}
