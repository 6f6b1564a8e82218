// Writes a compiled rule set into the Guarder's kernel tables (bpf/include/filter_shared.h): the
// inactive generation is filled, then one write flips ps_filter_active_gen, so packets see the old
// rule set or the new one, never a mix. Only entries that differ from what that generation last
// held are written or deleted; after a failed write the generation is rewritten whole. After each
// flip the loader waits for an RCU grace period, so no packet still uses the generation it rewrites next.
using System.Buffers.Binary;
using PacketScope.Native.Shared;

namespace PacketScope.Native;

/// <summary>One address-table entry: the prefix (network order, masked) of an address field.</summary>
public readonly record struct FilterAddressEntry(byte Family, FilterField Field, byte Length, UInt128 Address, uint Vector);

/// <summary>A rule set in the kernel's layout (built by PacketScope.Actors.Guard.KernelRuleSet).</summary>
public sealed class FilterImage
{
    public long Version { get; init; }
    /// <summary>The rules in priority order: bit i of every vector is Rules[i].</summary>
    public IReadOnlyList<(uint Id, FilterVerdict Action)> Rules { get; init; } = [];
    public int Words { get; init; }
    /// <summary>Bit per <see cref="FilterField"/> that some rule constrains.</summary>
    public uint Fields { get; init; }
    /// <summary>Vector id i + 1 is Vectors[i] (id 0 is the empty vector and is never stored).</summary>
    public IReadOnlyList<ulong[]> Vectors { get; init; } = [];
    public uint NoInnerVector { get; init; }
    public uint NoL4Vector { get; init; }
    /// <summary>Bits <see cref="FilterField.Src"/>, <see cref="FilterField.Dst"/>: address fields where some value names a drop rule as the winner.</summary>
    public uint Early { get; init; }
    /// <summary>[0] src, [1] dst: the IPv4 first stage of the early path, an id per /16 (| Deeper); null for a field not in <see cref="Early"/>.</summary>
    public uint[]?[] Early4 { get; init; } = new uint[]?[2];
    /// <summary>[family * 4 + field]: the /0 vector of each address field.</summary>
    public uint[] AnyVector { get; init; } = new uint[2 * FilterShared.AddrFields];
    public IReadOnlyList<FilterAddressEntry> Addresses { get; init; } = [];
    /// <summary>[field - DstPort]: vector id per port (or ICMP type &lt;&lt; 8 | code); null for an unused field.</summary>
    public uint[]?[] Ports { get; init; } = new uint[]?[FilterShared.PortFields];
    /// <summary>[field - Protocol]: vector id per byte value; null for an unused field.</summary>
    public uint[]?[] Small { get; init; } = new uint[]?[FilterShared.SmallFields];

    public static FilterImage Empty(long version) => new() { Version = version };
}

/// <summary>What a rule's counters hold, summed over CPUs.</summary>
public readonly record struct FilterHits(ulong Packets, ulong Bytes, ulong LastHitNs);

public sealed unsafe class FilterTables
{
    private readonly BpfMap _active, _gens, _vecs, _addrs, _ports, _small, _rules, _hits, _sync, _syncInner, _early4;
    // What each generation holds now, so the next fill writes only the difference.
    private readonly IReadOnlyList<ulong[]>[] _vectors = [[], []];
    private readonly Dictionary<ps_filter_addr_key, uint>[] _addrKeys = [new(), new()];
    private readonly uint[][][] _portShadow;
    private readonly uint[][][] _smallShadow;
    private readonly uint[][][] _early4Shadow;
    // Hit counter slots: one per rule id while the rule is in the kernel's set, zeroed before reuse.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<uint, ushort> _slots = new(); // read by ReadHits on other threads
    private readonly Stack<ushort> _freeSlots = new(Enumerable.Range(0, FilterShared.HitSlots).Reverse().Select(i => (ushort)i));
    private readonly bool[] _dirty = new bool[FilterShared.Gens];
    private uint _activeGen;

    internal FilterTables(BpfObject obj, bool adoptKernelState = false)
    {
        _active = obj.Map(FilterShared.ActiveMap);
        _gens = obj.Map(FilterShared.GensMap);
        _vecs = obj.Map(FilterShared.VecsMap);
        _addrs = obj.Map(FilterShared.AddrsMap);
        _ports = obj.Map(FilterShared.PortsMap);
        _small = obj.Map(FilterShared.SmallMap);
        _rules = obj.Map(FilterShared.RulesMap);
        _hits = obj.Map(FilterShared.HitsMap);
        _sync = obj.Map(FilterShared.SyncMap);
        _syncInner = obj.Map(FilterShared.SyncInnerMap);
        _early4 = obj.Map(FilterShared.Early4Map);
        _early4Shadow = NewShadow(2, FilterShared.Early4Keys);
        _portShadow = NewShadow(FilterShared.PortFields, FilterShared.PortKeys);
        _smallShadow = NewShadow(FilterShared.SmallFields, FilterShared.SmallKeys);
        FillMasks(obj.Map(FilterShared.MasksMap));
        var ones = new ps_filter_vec { first = 0, last = FilterShared.Words };
        for (var i = 0; i < FilterShared.Words; i++)
            ones.w[i] = ulong.MaxValue;
        obj.Map(FilterShared.OnesMap).Update(0u, ones);
        if (adoptKernelState)
            AdoptKernelState();
    }

    /// <summary>
    /// Takes over tables an earlier node filled (pinned maps): packets go on being classified by its active generation,
    /// whose version this reports; its rules keep their hit slots (their counters go on), the epoch goes on from its own,
    /// and both generations are rewritten whole at the next apply, as nothing here knows what they hold.
    /// </summary>
    private void AdoptKernelState()
    {
        if (!_active.TryLookup(0u, out ps_filter_active active) || active.gen >= FilterShared.Gens)
            return;
        _activeGen = active.gen;
        _dirty[0] = _dirty[1] = true;
        if (!_gens.TryLookup(_activeGen, out ps_filter_gen header) || header.epoch == 0 && header.version == 0 && header.rules == 0)
            return; // nothing was ever applied there
        _epoch = header.epoch;
        AppliedVersion = (long)header.version;
        AdoptedVersion = AppliedVersion;
        var used = new HashSet<ushort>();
        for (var i = 0u; i < header.rules && i < FilterShared.MaxRules; i++)
        {
            if (!_rules.TryLookup(_activeGen * FilterShared.MaxRules + i, out ps_filter_rule rule) || !used.Add(rule.slot))
                continue;
            _slots[rule.id] = rule.slot;
        }
        _freeSlots.Clear();
        foreach (var slot in Enumerable.Range(0, FilterShared.HitSlots).Reverse().Select(i => (ushort)i).Where(i => !used.Contains(i)))
            _freeSlots.Push(slot);
    }

    /// <summary>The version found in the kernel when the tables were taken over from an earlier node; null when they were new.</summary>
    public long? AdoptedVersion { get; private set; }

    /// <summary>The rule-set version packets are classified by now (-1 before the first apply).</summary>
    public long AppliedVersion { get; private set; } = -1;

    private uint _epoch;

    /// <summary>
    /// Whether flows cache their verdict (on by default). Off, every packet is classified: what a flow's first
    /// packet costs, which the filters benchmark measures this way. Takes effect at the next <see cref="Apply"/>.
    /// </summary>
    public bool CacheVerdicts { get; set; } = true;

    /// <summary>
    /// Whether drops an address decides alone are looked up before the flow table (on by default). Off, they wait
    /// for the flow lookup and the full classification, as before the fast path: the filters benchmark compares.
    /// Takes effect at the next <see cref="Apply"/>.
    /// </summary>
    public bool EarlyDrops { get; set; } = true;

    private static uint[][][] NewShadow(int fields, int keys) =>
        Enumerable.Range(0, FilterShared.Gens).Select(_ => Enumerable.Range(0, fields).Select(_ => new uint[keys]).ToArray()).ToArray();

    private static void FillMasks(BpfMap masks)
    {
        var keys = new uint[FilterShared.MaxLens + 1];
        var values = new ps_filter_mask[keys.Length];
        Span<byte> network = stackalloc byte[4]; // the packet's byte order, whatever the host's
        for (var len = 0; len < keys.Length; len++)
        {
            keys[len] = (uint)len;
            for (var k = 0; k < 4; k++)
            {
                var bits = Math.Clamp(len - 32 * k, 0, 32);
                var mask = bits == 0 ? 0u : uint.MaxValue << (32 - bits);
                BinaryPrimitives.WriteUInt32BigEndian(network, mask);
                values[len].m[k] = System.Runtime.InteropServices.MemoryMarshal.Read<uint>(network);
            }
        }
        masks.UpdateBatch<uint, ps_filter_mask>(keys, values);
    }

    /// <summary>Checks that the image fits the kernel tables; the message says what is too big.</summary>
    public static string? CheckFits(FilterImage image)
    {
        if (image.Rules.Count > FilterShared.MaxRules)
            return $"{image.Rules.Count} enabled rules; the kernel tables hold {FilterShared.MaxRules}";
        if (image.Vectors.Count >= FilterShared.VecsPerGen)
            return $"the rule set needs {image.Vectors.Count} distinct rule vectors; the kernel tables hold {FilterShared.VecsPerGen - 1}";
        if (image.Addresses.Count > FilterShared.AddrsPerGen)
            return $"the rule set needs {image.Addresses.Count} address prefixes; the kernel tables hold {FilterShared.AddrsPerGen}";
        return null;
    }

    /// <summary>Fills the inactive generation with the image and switches packets over to it.</summary>
    public void Apply(FilterImage image)
    {
        if (CheckFits(image) is { } tooBig)
            throw new ArgumentException(tooBig, nameof(image));
        var gen = _activeGen ^ 1;
        try
        {
            if (_dirty[gen])
                Reset(gen);
            WriteVectors(gen, image);
            WriteAddresses(gen, image);
            WriteArray(_ports, _portShadow[gen], image.Ports, gen, FilterShared.PortKeys);
            WriteArray(_small, _smallShadow[gen], image.Small, gen, FilterShared.SmallKeys);
            WriteArray(_early4, _early4Shadow[gen], image.Early4, gen, FilterShared.Early4Keys);
            WriteRules(gen, image);
            _gens.Update(gen, Header(image, CacheVerdicts ? NextEpoch() : 0, EarlyDrops));
        }
        catch
        {
            _dirty[gen] = true; // what a half-done batch left there is unknown: rewrite it all next time
            throw;
        }
        _active.Update(0u, new ps_filter_active { gen = gen });
        _activeGen = gen;
        AppliedVersion = image.Version;
        WaitForPacketsInFlight();

        // Counters of rules that left the set are zeroed and their slots freed: no packet can count them
        // any more. Rules that stay keep their slot and go on counting.
        var live = image.Rules.Select(r => r.Id).ToHashSet();
        var zero = new ps_filter_hit[Libbpf.PossibleCpus];
        foreach (var (id, slot) in _slots.Where(s => !live.Contains(s.Key)).ToList())
        {
            _hits.UpdatePerCpu((uint)slot, zero.AsSpan());
            _slots.TryRemove(id, out _);
            _freeSlots.Push(slot);
        }
    }

    /// <summary>
    /// Returns after an RCU grace period: the kernel answers an update of a map-in-map only once every
    /// BPF program that might still see the old value has finished (maybe_wait_bpf_programs).
    /// </summary>
    private void WaitForPacketsInFlight() => _sync.Update(0u, _syncInner.Fd);

    /// <summary>Empties a generation whose last write failed half-way, whatever it holds.</summary>
    private void Reset(uint gen)
    {
        var vecKeys = new List<uint>();
        var reader = _vecs.OpenBatchRead<uint, ps_filter_vec>();
        var keys = new uint[64];
        var values = new ps_filter_vec[64];
        int n;
        while ((n = reader.Next(keys, values)) > 0)
            vecKeys.AddRange(keys.Take(n).Where(k => k / FilterShared.VecsPerGen == gen));
        DeleteAll(_vecs, vecKeys.ToArray());

        var addrKeys = new List<ps_filter_addr_key>();
        var addrReader = _addrs.OpenBatchRead<ps_filter_addr_key, uint>();
        var akeys = new ps_filter_addr_key[1024];
        var avalues = new uint[1024];
        while ((n = addrReader.Next(akeys, avalues)) > 0)
            addrKeys.AddRange(akeys.Take(n).Where(k => k.gen == gen));
        DeleteAll(_addrs, addrKeys.ToArray());

        foreach (var table in _portShadow[gen].Concat(_smallShadow[gen]).Concat(_early4Shadow[gen]))
            Array.Fill(table, uint.MaxValue); // no real id: every key is written again
        _vectors[gen] = [];
        _addrKeys[gen] = new Dictionary<ps_filter_addr_key, uint>();
        _dirty[gen] = false;
    }

    /// <summary>The hit counters of these rule ids, summed over CPUs; ids never hit are left out.</summary>
    public Dictionary<uint, FilterHits> ReadHits(IEnumerable<uint> ids)
    {
        var result = new Dictionary<uint, FilterHits>();
        var perCpu = new ps_filter_hit[Libbpf.PossibleCpus];
        foreach (var id in ids)
        {
            if (!_slots.TryGetValue(id, out var slot) || !_hits.TryLookupPerCpu((uint)slot, perCpu.AsSpan()))
                continue;
            ulong packets = 0, bytes = 0, last = 0;
            foreach (var h in perCpu)
            {
                packets += h.packets;
                bytes += h.bytes;
                last = Math.Max(last, h.last_hit_ns);
            }
            result[id] = new FilterHits(packets, bytes, last);
        }
        return result;
    }

    // Flows cache their verdict tagged with the epoch it was classified in: a new one on every apply (never 0,
    // which a flow record starts with) makes every cached verdict stale at the flip.
    private uint NextEpoch() => _epoch = _epoch == uint.MaxValue ? 1 : _epoch + 1;

    private static ps_filter_gen Header(FilterImage image, uint epoch, bool early)
    {
        var h = new ps_filter_gen
        {
            epoch = epoch,
            version = (ulong)image.Version,
            rules = (uint)image.Rules.Count,
            words = image.Rules.Count == 0 ? 0u : (uint)image.Words,
            fields = image.Fields,
            no_inner_vec = image.NoInnerVector,
            no_l4_vec = image.NoL4Vector,
            early = early ? image.Early : 0,
        };
        for (var i = 0; i < image.AnyVector.Length; i++)
            h.any_vec[i] = image.AnyVector[i];
        foreach (var group in image.Addresses.GroupBy(a => a.Family * FilterShared.AddrFields + (int)a.Field))
        {
            var lens = group.Select(a => a.Length).Where(l => l > 0).Distinct().OrderByDescending(l => l).ToList();
            h.nlens[group.Key] = (byte)lens.Count;
            for (var i = 0; i < lens.Count; i++)
                h.lens[group.Key * FilterShared.MaxLens + i] = lens[i];
        }
        return h;
    }

    private void WriteVectors(uint gen, FilterImage image)
    {
        // Only ids whose content differs from what this generation holds (an image's arrays never change).
        var held = _vectors[gen];
        var changed = Enumerable.Range(0, image.Vectors.Count)
            .Where(i => i >= held.Count || !ReferenceEquals(held[i], image.Vectors[i]) && !held[i].AsSpan().SequenceEqual(image.Vectors[i]))
            .ToList();
        if (changed.Count > 0)
        {
            var keys = new uint[changed.Count];
            var values = new ps_filter_vec[changed.Count];
            for (var n = 0; n < changed.Count; n++)
            {
                var i = changed[n];
                keys[n] = gen * FilterShared.VecsPerGen + (uint)i + 1;
                var w = image.Vectors[i];
                int first = -1, last = 0;
                for (var j = 0; j < w.Length && j < FilterShared.Words; j++)
                {
                    values[n].w[j] = w[j];
                    if (w[j] == 0)
                        continue;
                    if (first < 0)
                        first = j;
                    last = j + 1;
                }
                values[n].first = (ushort)Math.Max(first, 0);
                values[n].last = (ushort)last;
            }
            _vecs.UpdateBatch<uint, ps_filter_vec>(keys, values);
        }
        var count = image.Vectors.Count;
        var stale = Enumerable.Range(count + 1, Math.Max(0, held.Count - count)).Select(id => gen * FilterShared.VecsPerGen + (uint)id).ToArray();
        DeleteAll(_vecs, stale);
        _vectors[gen] = image.Vectors;
    }

    private void WriteAddresses(uint gen, FilterImage image)
    {
        var held = _addrKeys[gen];
        var now = new Dictionary<ps_filter_addr_key, uint>(image.Addresses.Count);
        var keys = new List<ps_filter_addr_key>();
        var values = new List<uint>();
        Span<byte> bytes = stackalloc byte[16];
        foreach (var a in image.Addresses)
        {
            var key = new ps_filter_addr_key { gen = (byte)gen, family = a.Family, field = (byte)a.Field, len = a.Length };
            bytes.Clear();
            if (a.Family == 0)
                BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)a.Address);
            else
                BinaryPrimitives.WriteUInt128BigEndian(bytes, a.Address);
            for (var b = 0; b < 16; b++)
                key.addr[b] = bytes[b];
            now[key] = a.Vector;
            if (held.TryGetValue(key, out var vector) && vector == a.Vector)
                continue; // already there, pointing at the same vector id
            keys.Add(key);
            values.Add(a.Vector);
        }
        if (keys.Count > 0)
            _addrs.UpdateBatch<ps_filter_addr_key, uint>(keys.ToArray(), values.ToArray());
        DeleteAll(_addrs, held.Keys.Where(k => !now.ContainsKey(k)).ToArray());
        _addrKeys[gen] = now;
    }

    private static void WriteArray(BpfMap map, uint[][] shadow, uint[]?[] tables, uint gen, int keysPerField)
    {
        var keys = new List<uint>();
        var values = new List<uint>();
        for (var f = 0; f < shadow.Length; f++)
        {
            var table = tables[f];
            for (var k = 0; k < keysPerField; k++)
            {
                var id = table?[k] ?? 0;
                if (shadow[f][k] == id)
                    continue;
                keys.Add((uint)((gen * shadow.Length + f) * keysPerField + k));
                values.Add(id);
            }
        }
        if (keys.Count == 0)
            return;
        map.UpdateBatch<uint, uint>(keys.ToArray(), values.ToArray());
        var perField = (uint)keysPerField;
        for (var i = 0; i < keys.Count; i++)
        {
            var local = keys[i] - gen * (uint)shadow.Length * perField;
            shadow[local / perField][local % perField] = values[i];
        }
    }

    private void WriteRules(uint gen, FilterImage image)
    {
        if (image.Rules.Count == 0)
            return;
        var keys = new uint[image.Rules.Count];
        var values = new ps_filter_rule[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = gen * FilterShared.MaxRules + (uint)i;
            values[i] = new ps_filter_rule { id = image.Rules[i].Id, slot = Slot(image.Rules[i].Id), action = (byte)image.Rules[i].Action };
        }
        _rules.UpdateBatch<uint, ps_filter_rule>(keys, values);
    }

    private ushort Slot(uint id)
    {
        if (!_slots.TryGetValue(id, out var slot))
            _slots[id] = slot = _freeSlots.Pop(); // at most 2 x MaxRules ids live across two generations
        return slot;
    }

    private static void DeleteAll<TKey>(BpfMap map, TKey[] keys) where TKey : unmanaged
    {
        foreach (var key in keys)
            map.Delete(key);
    }
}
