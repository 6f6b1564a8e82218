// Turns a compiled rule set into the kernel's table layout (FilterImage): vectors interned by content
// (id 0 = empty, one-rule vectors encoded in the id itself), fields no rule constrains left out, port
// tables expanded to one entry per key; a field value whose lowest rule no other field constrains
// names that rule as the winner (a WINNER id), so the kernel stops at that field.
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Guard;

public static class KernelRuleSet
{
    /// <summary>The kernel image of a stored rule set (its enabled, unexpired rules); throws when it cannot fit the tables.</summary>
    public static FilterImage Build(FilterRuleSetChanged change)
    {
        var image = Build(RuleSetCompiler.Compile(change.Rules, DateTimeOffset.UtcNow), change.Version);
        if (FilterTables.CheckFits(image) is { } tooBig)
            throw new InvalidOperationException(tooBig);
        return image;
    }

    public static FilterImage Build(CompiledRuleSet set, long version)
    {
        var n = set.Rules.Count;
        if (n == 0)
            return FilterImage.Empty(version);
        var all = new RuleVector(set.Words);
        for (var i = 0; i < n; i++)
            all.Set(i);

        var ids = new Dictionary<RuleVector, uint>();
        var vectors = new List<ulong[]>();
        uint Intern(RuleVector v)
        {
            var bits = 0;
            var single = 0;
            for (var i = 0; i < v.Words.Length && bits < 2; i++)
                if (v.Words[i] != 0)
                {
                    bits += System.Numerics.BitOperations.PopCount(v.Words[i]);
                    single = i * 64 + System.Numerics.BitOperations.TrailingZeroCount(v.Words[i]);
                }
            if (bits == 0)
                return 0;
            if (bits == 1)
                return FilterShared.Single | (uint)single; // one rule: the kernel tests it without a lookup
            if (!ids.TryGetValue(v, out var id))
            {
                vectors.Add(v.Words);
                ids[v] = id = (uint)vectors.Count;
            }
            return id;
        }
        bool Used(IEnumerable<RuleVector> table) => table.Any(v => !v.Equals(all));

        uint fields = 0;
        var addresses = new List<FilterAddressEntry>();
        var any = new uint[2 * FilterShared.AddrFields];
        var addressTables = new (FilterField Field, List<PrefixEntry> V4, List<PrefixEntry> V6)[]
        {
            (FilterField.Src, set.Src4, set.Src6),
            (FilterField.Dst, set.Dst4, set.Dst6),
            (FilterField.InnerSrc, set.InnerSrc4, set.InnerSrc6),
            (FilterField.InnerDst, set.InnerDst4, set.InnerDst6),
        };
        foreach (var (field, v4, v6) in addressTables)
        {
            if (!Used(v4.Concat(v6).Select(e => e.Rules)))
                continue;
            fields |= 1u << (int)field;
            foreach (var (family, table) in new[] { (0, v4), (1, v6) })
                foreach (var e in table)
                {
                    var id = Intern(e.Rules);
                    if (e.Length == 0)
                        any[family * FilterShared.AddrFields + (int)field] = id;
                    else
                        addresses.Add(new FilterAddressEntry((byte)family, field, (byte)e.Length, e.Value, id));
                }
        }

        var ports = new uint[]?[FilterShared.PortFields];
        var portTables = new (FilterField Field, List<PrefixEntry> Table)[]
        {
            (FilterField.DstPort, set.DstPort), (FilterField.SrcPort, set.SrcPort), (FilterField.Icmp, set.Icmp),
            (FilterField.InnerSrcPort, set.InnerSrcPort), (FilterField.InnerDstPort, set.InnerDstPort),
        };
        foreach (var (field, table) in portTables)
        {
            if (!Used(table.Select(e => e.Rules)))
                continue;
            fields |= 1u << (int)field;
            var keys = ports[field - FilterField.DstPort] = new uint[FilterShared.PortKeys];
            // Shorter prefixes first, so a longer one inside them wins (the compiler's are disjoint anyway).
            foreach (var e in table.OrderBy(e => e.Length))
            {
                var id = Intern(e.Rules);
                var from = (int)e.Value;
                var count = 1 << (16 - e.Length);
                keys.AsSpan(from, count).Fill(id);
            }
        }

        var small = new uint[]?[FilterShared.SmallFields];
        var smallTables = new (FilterField Field, RuleVector[] Table)[]
        {
            (FilterField.Protocol, set.Protocol), (FilterField.TcpFlags, set.TcpFlags), (FilterField.InnerProtocol, set.InnerProtocol),
        };
        foreach (var (field, table) in smallTables)
        {
            if (!Used(table))
                continue;
            fields |= 1u << (int)field;
            small[field - FilterField.Protocol] = table.Select(Intern).ToArray();
        }

        uint noInner = 0;
        if (!set.NoInner.Equals(all))
        {
            fields |= 1u << (int)FilterField.NoInner;
            noInner = Intern(set.NoInner);
        }

        uint noL4 = 0;
        if (!set.NoL4.Equals(all))
        {
            fields |= 1u << (int)FilterField.NoL4;
            noL4 = Intern(set.NoL4);
        }

        var early = MarkWinners(set, fields, vectors, any, addresses, ports, small, noInner, noL4);

        return new FilterImage
        {
            Version = version,
            Early = early,
            Early4 = [Early4(early, FilterField.Src, any, addresses, set), Early4(early, FilterField.Dst, any, addresses, set)],
            Rules = set.Rules.Select(r => ((uint)r.Id, Verdict(r.Spec.Action))).ToList(),
            Words = set.Words,
            Fields = fields,
            Vectors = vectors,
            NoInnerVector = noInner,
            NoL4Vector = noL4,
            AnyVector = any,
            Addresses = addresses,
            Ports = ports,
            Small = small,
        };
    }

    /// <summary>
    /// Replaces each field value's id by a WINNER id when the lowest rule of its vector is in every vector every
    /// other field can give (for address fields, of that family): that rule is then in the intersection and
    /// nothing ahead of it can be, so it wins whatever the other fields hold. Returns the address fields
    /// (bits Src, Dst) where some value names a drop rule so: the kernel looks them up before the flow table.
    /// </summary>
    private static uint MarkWinners(CompiledRuleSet set, uint fields, List<ulong[]> vectors, uint[] any, List<FilterAddressEntry> addresses,
        uint[]?[] ports, uint[]?[] small, uint noInner, uint noL4)
    {
        var words = set.Words;
        void And(ulong[] acc, uint id)
        {
            if (id == 0)
                Array.Clear(acc);
            else if ((id & FilterShared.Single) != 0)
            {
                var bit = (int)(id & ~FilterShared.Single);
                var keep = (acc[bit >> 6] >> (bit & 63) & 1) != 0;
                Array.Clear(acc);
                if (keep)
                    acc[bit >> 6] = 1UL << (bit & 63);
            }
            else
                for (var w = 0; w < words; w++)
                    acc[w] &= vectors[(int)id - 1][w];
        }
        int Lowest(uint id)
        {
            if (id == 0)
                return -1;
            if ((id & FilterShared.Single) != 0)
                return (int)(id & ~FilterShared.Single);
            var v = vectors[(int)id - 1];
            for (var w = 0; w < words; w++)
                if (v[w] != 0)
                    return w * 64 + System.Numerics.BitOperations.TrailingZeroCount(v[w]);
            return -1;
        }
        ulong[] All()
        {
            var v = new ulong[words];
            Array.Fill(v, ulong.MaxValue);
            return v;
        }

        // What every value of each field (per family) lets through: the AND of its distinct ids.
        var present = Enumerable.Range(0, (int)FilterField.Max).Where(f => (fields & 1u << f) != 0).Select(f => (FilterField)f).ToArray();
        var always = new Dictionary<(int Family, FilterField Field), ulong[]>();
        foreach (var f in present)
            for (var family = 0; family < 2; family++)
            {
                IEnumerable<uint> ids = f switch
                {
                    < FilterField.DstPort => addresses.Where(a => a.Family == family && a.Field == f).Select(a => a.Vector)
                        .Append(any[family * FilterShared.AddrFields + (int)f]),
                    < FilterField.Protocol => ports[f - FilterField.DstPort]!,
                    < FilterField.NoInner => small[f - FilterField.Protocol]!,
                    FilterField.NoInner => [noInner],
                    _ => [noL4],
                };
                var acc = All();
                foreach (var id in ids.Distinct())
                    And(acc, id);
                always[(family, f)] = acc;
            }
        // [family][field]: the AND over every other field.
        var others = new ulong[2][][];
        for (var family = 0; family < 2; family++)
        {
            others[family] = new ulong[(int)FilterField.Max][];
            foreach (var f in present)
            {
                var acc = All();
                foreach (var g in present.Where(g => g != f))
                    for (var w = 0; w < words; w++)
                        acc[w] &= always[(family, g)][w];
                others[family][(int)f] = acc;
            }
        }
        bool InAll(ulong[] v, int bit) => (v[bit >> 6] >> (bit & 63) & 1) != 0;
        uint Mark(uint id, FilterField f, int family)
        {
            var r = Lowest(id);
            if (r < 0)
                return id;
            var winner = family >= 0 ? InAll(others[family][(int)f], r) : InAll(others[0][(int)f], r) && InAll(others[1][(int)f], r);
            return winner ? FilterShared.Winner | (uint)r : id;
        }

        uint early = 0;
        void NoteEarly(uint id, FilterField f)
        {
            if ((id & FilterShared.Winner) != 0 && f <= FilterField.Dst && set.Rules[(int)(id & FilterShared.RuleMask)].Spec.Action == FilterAction.Drop)
                early |= 1u << (int)f;
        }
        foreach (var f in present.Where(f => f < FilterField.DstPort))
            for (var family = 0; family < 2; family++)
            {
                ref var slot = ref any[family * FilterShared.AddrFields + (int)f];
                slot = Mark(slot, f, family);
                NoteEarly(slot, f);
            }
        for (var i = 0; i < addresses.Count; i++)
        {
            var a = addresses[i];
            var id = Mark(a.Vector, a.Field, a.Family);
            NoteEarly(id, a.Field);
            addresses[i] = a with { Vector = id };
        }
        foreach (var f in present.Where(f => f is >= FilterField.DstPort and < FilterField.NoInner))
        {
            var table = f < FilterField.Protocol ? ports[f - FilterField.DstPort]! : small[f - FilterField.Protocol]!;
            var marked = new Dictionary<uint, uint>();
            for (var k = 0; k < table.Length; k++)
            {
                if (!marked.TryGetValue(table[k], out var id))
                    marked[table[k]] = id = Mark(table[k], f, -1);
                table[k] = id;
            }
        }
        return early;
    }

    /// <summary>
    /// The early path's IPv4 first stage for one address field: per /16, the id of the longest prefix of at most 16
    /// bits covering it (shorter ones written first, longer ones over them), with Deeper where a longer prefix lies
    /// inside; 0 for a /16 where no address can be a drop rule's winner, so passing traffic there costs one load.
    /// </summary>
    private static uint[]? Early4(uint early, FilterField field, uint[] any, List<FilterAddressEntry> addresses, CompiledRuleSet set)
    {
        if ((early & 1u << (int)field) == 0)
            return null;
        bool IsDrop(uint id) => (id & FilterShared.Winner) != 0 && set.Rules[(int)(id & FilterShared.RuleMask)].Spec.Action == FilterAction.Drop;
        var table = new uint[FilterShared.Early4Keys];
        Array.Fill(table, any[(int)field]);
        var v4 = addresses.Where(a => a.Family == 0 && a.Field == field).ToList();
        foreach (var a in v4.Where(a => a.Length <= 16).OrderBy(a => a.Length))
            table.AsSpan((int)((uint)a.Address >> 16), 1 << (16 - a.Length)).Fill(a.Vector);
        var deeper = new bool[FilterShared.Early4Keys];
        var deeperDrop = new bool[FilterShared.Early4Keys];
        foreach (var a in v4.Where(a => a.Length > 16))
        {
            var slot = (int)((uint)a.Address >> 16);
            deeper[slot] = true;
            deeperDrop[slot] |= IsDrop(a.Vector);
        }
        for (var k = 0; k < table.Length; k++)
            table[k] = IsDrop(table[k]) || deeperDrop[k] ? table[k] | (deeper[k] ? FilterShared.Deeper : 0) : 0;
        return table;
    }

    public static FilterVerdict Verdict(FilterAction action) => action switch
    {
        FilterAction.Drop => FilterVerdict.Drop,
        FilterAction.Allow => FilterVerdict.Allow,
        FilterAction.Monitor => FilterVerdict.Monitor,
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, null),
    };
}
