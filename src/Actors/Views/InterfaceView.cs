// One interface's current picture, applied from telemetry deltas: flows, ICMP messages, stats with rates.
using System.Net;
using PacketScope.Actors.Telemetry;
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Views;

public sealed class InterfaceView
{
    internal struct Entry<TValue> where TValue : unmanaged
    {
        public TValue Value;
        public ulong ReadAtNs;
        public float PacketsPerSecond;
        public float BytesPerSecond;
    }

    private readonly Dictionary<ps_flow_key, Entry<CompactFlow>> _flows = new();
    private readonly BpfMap? _flowMap;
    private readonly Dictionary<ps_icmp_key, Entry<ps_icmp_value>> _icmp = new();
    private ReadClock _flowClock, _icmpClock;
    private StatsReading? _stats, _previousStats;
    private MapReadSummary? _flowSummary;

    /// <param name="flowMap">The interface's kernel flow map, for the details of returned flows; null when detached.</param>
    public InterfaceView(string name, BpfMap? flowMap = null)
    {
        Name = name;
        _flowMap = flowMap;
    }

    public string Name { get; }
    public int FlowCount => _flows.Count;
    public int IcmpCount => _icmp.Count;
    public MapReadSummary? FlowSummary => _flowSummary;

    /// <summary>True once the counters and the flow table have each been read once: before that, numbers would be missing.</summary>
    public bool HasFirstReading => _stats is not null && _flowSummary is not null;

    public void Apply(MapDelta<ps_flow_key, ps_flow_value> delta)
    {
        // Size the table once instead of growing it by doubling through a million inserts.
        if (delta.SizeHint > _flows.Count)
            _flows.EnsureCapacity((int)Math.Min(delta.SizeHint, int.MaxValue));
        foreach (var change in delta.Changes)
        {
            ref var entry = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_flows, change.Key, out var existed);
            // Same connection (not a new one on a reused 4-tuple): a rate over the time between reads.
            if (existed && delta.Clock.ReadAtNs > entry.ReadAtNs && change.Value.first_seen_ns == entry.Value.FirstSeenNs)
            {
                var seconds = (delta.Clock.ReadAtNs - entry.ReadAtNs) / 1e9;
                entry.PacketsPerSecond = (float)(Increase(entry.Value.Packets, Packets(change.Value)) / seconds);
                entry.BytesPerSecond = (float)(Increase(entry.Value.Bytes, Bytes(change.Value)) / seconds);
            }
            else if (existed)
            {
                entry.PacketsPerSecond = entry.BytesPerSecond = 0;
            }
            entry.Value = new CompactFlow(change.Value);
            entry.ReadAtNs = delta.Clock.ReadAtNs;
        }
        foreach (var removal in delta.Removals)
            _flows.Remove(removal.Key);
        _flowClock = delta.Clock;
        if (delta.Final is not null)
        {
            _flowSummary = delta.Final;
            if (delta.Final.Snapshot)
                DropUnseen(_flows, delta.Clock.ReadAtNs);
        }
    }

    /// <summary>After a snapshot read, whatever it did not republish is not in the kernel map any more.</summary>
    private static void DropUnseen<TKey, TValue>(Dictionary<TKey, Entry<TValue>> entries, ulong readAtNs)
        where TKey : notnull where TValue : unmanaged
    {
        foreach (var (key, entry) in entries)
            if (entry.ReadAtNs != readAtNs)
                entries.Remove(key);
    }

    /// <summary>How much a counter grew; 0 when it went back (a recreated entry), never an unsigned wrap.</summary>
    private static double Increase(ulong before, ulong now) => now >= before ? now - before : 0;

    public void Apply(MapDelta<ps_icmp_key, ps_icmp_value> delta)
    {
        if (delta.SizeHint > _icmp.Count)
            _icmp.EnsureCapacity((int)Math.Min(delta.SizeHint, int.MaxValue));
        foreach (var change in delta.Changes)
        {
            ref var entry = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_icmp, change.Key, out var existed);
            if (existed && delta.Clock.ReadAtNs > entry.ReadAtNs)
                entry.PacketsPerSecond = (float)(Increase(entry.Value.packets, change.Value.packets) / ((delta.Clock.ReadAtNs - entry.ReadAtNs) / 1e9));
            entry.Value = change.Value;
            entry.ReadAtNs = delta.Clock.ReadAtNs;
        }
        foreach (var removal in delta.Removals)
            _icmp.Remove(removal.Key);
        _icmpClock = delta.Clock;
        if (delta.Final is { Snapshot: true })
            DropUnseen(_icmp, delta.Clock.ReadAtNs);
    }

    public void Apply(StatsReading reading)
    {
        _previousStats = _stats;
        _stats = reading;
    }

    private static ulong Packets(in ps_flow_value v) => v.side_a.packets + v.side_b.packets;
    private static ulong Bytes(in ps_flow_value v) => v.side_a.bytes + v.side_b.bytes;

    /// <summary>
    /// The full record of a returned flow: the kernel's current value (sequence numbers, window, IP id
    /// and TTL are not kept here), or what the view holds when the map is gone or the flow left it.
    /// </summary>
    private ps_flow_value Details(in ps_flow_key key, in CompactFlow flow)
    {
        try
        {
            if (_flowMap is not null && _flowMap.TryLookup(key, out ps_flow_value live) && live.first_seen_ns == flow.FirstSeenNs)
                return live;
        }
        catch (ObjectDisposedException)
        {
            // Detached under us: the view is about to be replaced.
        }
        return flow.ToValue();
    }

    /// <summary>A rate is only current if the flow changed in the latest read; otherwise it is idle (0).</summary>
    private (double Pps, double Bps) Rates(in Entry<CompactFlow> e) =>
        e.ReadAtNs == _flowClock.ReadAtNs ? (e.PacketsPerSecond, e.BytesPerSecond) : (0, 0);

    /// <summary>Filters and returns the top <c>Limit</c> flows by the query's sort key (a bounded heap, not a full sort).</summary>
    public (long Total, List<FlowRecord> Top) Query(string node, ConnectionQuery q)
    {
        IPNetwork? network = q.Address is null ? null : ParseNetwork(q.Address);
        var heap = new PriorityQueue<(ps_flow_key Key, Entry<CompactFlow> Entry), double>(Math.Min(q.Limit, _flows.Count) + 1);
        long total = 0;
        foreach (var (key, entry) in _flows)
        {
            if (q.Protocol is { } p && key.proto != p)
                continue;
            if (q.Port is { } port && key.port_a != port && key.port_b != port)
                continue;
            if (network is { } net && !Matches(key, net))
                continue;
            if (q.State is { } state && Interfaces.FlowState.Name(Interfaces.FlowState.Of(key, entry.Value.Flags())) != state)
                continue;
            total++;
            var score = q.Sort switch
            {
                ConnectionSort.Packets => entry.Value.Packets,
                ConnectionSort.LastSeen => entry.Value.LastSeenNs,
                ConnectionSort.Rate => Rates(entry).Bps,
                _ => (double)entry.Value.Bytes,
            };
            if (heap.Count < q.Limit)
                heap.Enqueue((key, entry), score);
            else if (q.Limit > 0 && heap.TryPeek(out _, out var lowest) && score > lowest)
                heap.EnqueueDequeue((key, entry), score);
        }
        var top = new List<FlowRecord>(heap.Count);
        while (heap.TryDequeue(out var item, out _))
        {
            var (pps, bps) = Rates(item.Entry);
            top.Add(Formatting.Flow(node, Name, item.Key, Details(item.Key, item.Entry.Value), _flowClock, pps, bps));
        }
        top.Reverse();
        return (total, top);
    }

    public (long Total, List<IcmpRecord> Top) QueryIcmp(string node, IcmpQuery q)
    {
        IPNetwork? network = q.Address is null ? null : ParseNetwork(q.Address);
        byte? family = q.Family switch { "ipv4" => Conntrack.AF_INET, "ipv6" => Conntrack.AF_INET6, _ => null };
        var heap = new PriorityQueue<(ps_icmp_key Key, Entry<ps_icmp_value> Entry), ulong>(Math.Min(q.Limit, _icmp.Count) + 1);
        long total = 0;
        foreach (var (key, entry) in _icmp)
        {
            if (q.Type is { } t && key.type != t)
                continue;
            if (family is { } f && key.family != f)
                continue;
            if (network is { } net && !MatchesIcmp(key, net))
                continue;
            total++;
            if (heap.Count < q.Limit)
                heap.Enqueue((key, entry), entry.Value.last_seen_ns);
            else if (q.Limit > 0 && heap.TryPeek(out _, out var oldest) && entry.Value.last_seen_ns > oldest)
                heap.EnqueueDequeue((key, entry), entry.Value.last_seen_ns);
        }
        var top = new List<IcmpRecord>(heap.Count);
        while (heap.TryDequeue(out var item, out _))
        {
            var pps = item.Entry.ReadAtNs == _icmpClock.ReadAtNs ? item.Entry.PacketsPerSecond : 0;
            top.Add(Formatting.Icmp(node, Name, item.Key, item.Entry.Value, _icmpClock, pps));
        }
        top.Reverse();
        return (total, top);
    }

    public InterfaceStats? Stats()
    {
        if (_stats is null)
            return null;
        var seconds = _previousStats is null ? 0 : (_stats.Clock.ReadAtNs - _previousStats.Clock.ReadAtNs) / 1e9;
        Dictionary<string, Counter> Hook(int hook)
        {
            var result = new Dictionary<string, Counter>();
            foreach (var stat in Enum.GetValues<StatId>())
            {
                if (stat is StatId.Max or StatId.FlowMapFull or StatId.IcmpMapFull or StatId.HistFull)
                    continue;
                var i = hook * (int)StatId.Max + (int)stat;
                var now = _stats.Counters[i];
                var before = _previousStats?.Counters[i] ?? now;
                result[StatName(stat)] = new Counter(now.packets, now.bytes,
                    seconds > 0 ? Increase(before.packets, now.packets) / seconds : 0,
                    seconds > 0 ? Increase(before.bytes, now.bytes) / seconds : 0);
            }
            return result;
        }
        ulong Loss(StatId stat) => _stats.Counters[(int)stat].packets + _stats.Counters[(int)StatId.Max + (int)stat].packets;
        var icmp = _stats.IcmpHistogram
            .OrderBy(h => h.Key.hook).ThenBy(h => h.Key.family).ThenBy(h => h.Key.type).ThenBy(h => h.Key.code)
            .Select(h => new IcmpTypeCount(Formatting.FamilyName(h.Key.family), h.Key.hook == 0 ? "ingress" : "egress",
                h.Key.type, h.Key.code, IcmpNames.TypeName(h.Key.family, h.Key.type), h.Value.packets, h.Value.bytes))
            .ToList();
        var summary = _flowSummary;
        return new InterfaceStats(Name, _stats.Clock.ReadAt, Hook(Conntrack.HookIngress), Hook(Conntrack.HookEgress), icmp,
            new FlowTableStats(_flows.Count, summary?.Created ?? 0, summary?.Expired ?? 0, summary?.Capacity ?? 0),
            new TelemetryLosses(Loss(StatId.FlowMapFull), Loss(StatId.IcmpMapFull), Loss(StatId.HistFull), summary?.Evicted ?? 0));
    }

    public static string StatName(StatId stat) => stat switch
    {
        StatId.Ipv4 => "ipv4",
        StatId.Ipv6 => "ipv6",
        StatId.OtherL3 => "other_l3",
        StatId.Icmpv6 => "icmpv6",
        StatId.OtherL4 => "other_l4",
        StatId.FlowNew => "new_flows",
        StatId.IcmpNew => "new_icmp_entries",
        StatId.FlowMapFull => "flow_map_full",
        StatId.IcmpMapFull => "icmp_map_full",
        StatId.HistFull => "histogram_full",
        _ => stat.ToString().ToLowerInvariant(),
    };

    /// <summary>An address or CIDR prefix; the REST layer validates it first.</summary>
    public static IPNetwork ParseNetwork(string text)
    {
        if (IPAddress.TryParse(text, out var address))
            return new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        return IPNetwork.Parse(text);
    }

    private static unsafe bool Matches(in ps_flow_key key, IPNetwork net)
    {
        fixed (byte* a = key.addr_a)
        fixed (byte* b = key.addr_b)
            return net.Contains(Formatting.Address(a, key.family)) || net.Contains(Formatting.Address(b, key.family));
    }

    private static unsafe bool MatchesIcmp(in ps_icmp_key key, IPNetwork net)
    {
        fixed (byte* s = key.src)
        fixed (byte* d = key.dst)
            return net.Contains(Formatting.Address(s, key.family)) || net.Contains(Formatting.Address(d, key.family));
    }
}
