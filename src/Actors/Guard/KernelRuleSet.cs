// Turns a compiled rule set into the kernel's table layout (FilterImage): vectors interned by content
// (id 0 = empty, one-rule vectors encoded in the id itself), fields no rule constrains left out, port
// tables expanded to one entry per key.
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Guard;

public static class KernelRuleSet
{
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

        return new FilterImage
        {
            Version = version,
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

    public static FilterVerdict Verdict(FilterAction action) => action switch
    {
        FilterAction.Drop => FilterVerdict.Drop,
        FilterAction.Allow => FilterVerdict.Allow,
        FilterAction.Monitor => FilterVerdict.Monitor,
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, null),
    };
}
