// Compiles filter rules into per-field lookup tables of rule bit vectors, the classification the XDP
// program will run (bpf-iptables' linear bit vector search): a packet looks up one vector per field,
// ANDs them, and the first set bit is the highest-priority rule that matches. The cost depends on the
// number of fields and on N/64 words, never on scanning rules one by one. Every table is total: each
// possible key (address, port, ...) has exactly one longest matching entry, so the tables can be
// loaded into LPM tries and arrays as they are. Match() runs the same lookups in C#, as the reference
// the kernel program will be tested against.
using System.Net;
using System.Numerics;
using PacketScope.Messages;

namespace PacketScope.Actors.Guard;

/// <summary>A bit per rule, in priority order (bit i = the i-th rule).</summary>
public sealed class RuleVector : IEquatable<RuleVector>
{
    public RuleVector(int words) => Words = new ulong[words];

    public ulong[] Words { get; }

    public void Set(int bit) => Words[bit >> 6] |= 1UL << (bit & 63);

    public bool Get(int bit) => (Words[bit >> 6] & (1UL << (bit & 63))) != 0;

    public bool Equals(RuleVector? other) => other is not null && Words.AsSpan().SequenceEqual(other.Words);

    public override bool Equals(object? obj) => Equals(obj as RuleVector);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var w in Words)
            h.Add(w);
        return h.ToHashCode();
    }
}

/// <summary>A prefix of a <paramref name="Bits"/>-bit key (addresses, ports, ICMP type/code) and its vector.</summary>
public sealed record PrefixEntry(UInt128 Value, int Length, RuleVector Rules);

/// <summary>
/// The fields of one packet that rules look at. Inner* only for ICMP errors (HasInner). L4Unknown: a non-first
/// fragment, whose ports, flags and ICMP header are not in the packet; only rules that constrain none of them match.
/// </summary>
public sealed record PacketFields(
    byte Protocol, IPAddress Src, IPAddress Dst, ushort SrcPort, ushort DstPort, byte TcpFlags, byte IcmpType, byte IcmpCode,
    bool HasInner = false, IPAddress? InnerSrc = null, IPAddress? InnerDst = null, byte InnerProtocol = 0,
    ushort InnerSrcPort = 0, ushort InnerDstPort = 0, bool L4Unknown = false);

public sealed class CompiledRuleSet
{
    public const int MaxRules = 10_240;

    internal CompiledRuleSet(IReadOnlyList<FilterRule> rules, int words)
    {
        Rules = rules;
        Words = words;
    }

    /// <summary>The enabled rules in priority order: bit i of every vector is Rules[i].</summary>
    public IReadOnlyList<FilterRule> Rules { get; }
    public int Words { get; }

    public RuleVector[] Protocol { get; internal set; } = [];          // [256]
    public RuleVector[] TcpFlags { get; internal set; } = [];          // [256]
    public RuleVector[] InnerProtocol { get; internal set; } = [];     // [256]
    public List<PrefixEntry> Src4 { get; } = new();
    public List<PrefixEntry> Dst4 { get; } = new();
    public List<PrefixEntry> Src6 { get; } = new();
    public List<PrefixEntry> Dst6 { get; } = new();
    public List<PrefixEntry> SrcPort { get; } = new();
    public List<PrefixEntry> DstPort { get; } = new();
    /// <summary>16-bit key: type &lt;&lt; 8 | code.</summary>
    public List<PrefixEntry> Icmp { get; } = new();
    public List<PrefixEntry> InnerSrc4 { get; } = new();
    public List<PrefixEntry> InnerDst4 { get; } = new();
    public List<PrefixEntry> InnerSrc6 { get; } = new();
    public List<PrefixEntry> InnerDst6 { get; } = new();
    public List<PrefixEntry> InnerSrcPort { get; } = new();
    public List<PrefixEntry> InnerDstPort { get; } = new();
    /// <summary>For packets that quote nothing: the rules without inner fields.</summary>
    public RuleVector NoInner { get; internal set; } = null!;
    /// <summary>For packets whose transport header is not there (later fragments): rules with no port, flag, ICMP or inner field.</summary>
    public RuleVector NoL4 { get; internal set; } = null!;

    /// <summary>The first (highest-priority) rule matching the packet, by the same lookups the kernel does.</summary>
    public FilterRule? Match(PacketFields p)
    {
        if (Rules.Count == 0)
            return null;
        var v6 = p.Src.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        var vectors = new List<RuleVector>
        {
            Protocol[p.Protocol],
            Longest(v6 ? Src6 : Src4, Key(p.Src), v6 ? 128 : 32),
            Longest(v6 ? Dst6 : Dst4, Key(p.Dst), v6 ? 128 : 32),
        };
        if (p.L4Unknown)
        {
            vectors.Add(NoL4);
        }
        else
        {
            vectors.Add(Longest(SrcPort, p.SrcPort, 16));
            vectors.Add(Longest(DstPort, p.DstPort, 16));
            vectors.Add(TcpFlags[p.TcpFlags]);
            vectors.Add(Longest(Icmp, (UInt128)(p.IcmpType << 8 | p.IcmpCode), 16));
        }
        if (p.L4Unknown)
        {
            // NoL4 already excludes every rule with inner fields.
        }
        else if (p.HasInner)
        {
            var i6 = p.InnerSrc!.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            vectors.Add(Longest(i6 ? InnerSrc6 : InnerSrc4, Key(p.InnerSrc), i6 ? 128 : 32));
            vectors.Add(Longest(i6 ? InnerDst6 : InnerDst4, Key(p.InnerDst!), i6 ? 128 : 32));
            vectors.Add(InnerProtocol[p.InnerProtocol]);
            vectors.Add(Longest(InnerSrcPort, p.InnerSrcPort, 16));
            vectors.Add(Longest(InnerDstPort, p.InnerDstPort, 16));
        }
        else
        {
            vectors.Add(NoInner);
        }
        for (var w = 0; w < Words; w++)
        {
            var word = ulong.MaxValue;
            foreach (var v in vectors)
                word &= v.Words[w];
            if (word != 0)
                return Rules[w * 64 + BitOperations.TrailingZeroCount(word)];
        }
        return null;
    }

    internal static UInt128 Key(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        UInt128 v = 0;
        foreach (var b in bytes)
            v = v << 8 | b;
        return v;
    }

    private static RuleVector Longest(List<PrefixEntry> entries, UInt128 key, int bits)
    {
        PrefixEntry? best = null;
        foreach (var e in entries)
            if ((e.Length == 0 || key >> (bits - e.Length) == e.Value >> (bits - e.Length)) && (best is null || e.Length > best.Length))
                best = e;
        return best!.Rules; // total: a /0 entry always exists
    }
}

public static class RuleSetCompiler
{
    /// <summary>Compiles the enabled rules that have not expired at <paramref name="now"/> (the store removes them within a second).</summary>
    /// <remarks>
    /// Each table costs about one vector copy per entry plus one bit per rule, never a pass over all rules
    /// per entry, so a full <see cref="CompiledRuleSet.MaxRules"/> set compiles in tens of milliseconds.
    /// </remarks>
    public static CompiledRuleSet Compile(IEnumerable<FilterRule> stored, DateTimeOffset? now = null)
    {
        var rules = stored.Where(r => r.Spec.Enabled && !(r.Spec.ExpiresAt <= now)).OrderBy(r => r.Priority).ThenBy(r => r.Id).ToList();
        if (rules.Count > CompiledRuleSet.MaxRules)
            throw new InvalidOperationException($"{rules.Count} enabled rules; the kernel classifier holds at most {CompiledRuleSet.MaxRules}");
        var words = Math.Max(1, (rules.Count + 63) / 64);
        var set = new CompiledRuleSet(rules, words);
        var specs = rules.Select(r => r.Spec).ToArray();

        set.Protocol = ValueTable(specs, words, s => s.Protocol == 0 ? null : s.Protocol);
        set.TcpFlags = FlagsTable(specs, words);
        set.InnerProtocol = ValueTable(specs, words, s => s.InnerProtocol);
        set.NoInner = new RuleVector(words);
        set.NoL4 = new RuleVector(words);
        for (var i = 0; i < specs.Length; i++)
        {
            if (!HasInner(specs[i]))
                set.NoInner.Set(i);
            if (!HasInner(specs[i]) && specs[i] is { SrcPort: null, DstPort: null, TcpFlagsMask: 0, IcmpType: null })
                set.NoL4.Set(i);
        }

        AddressTables(set.Src4, set.Src6, specs, words, s => s.SrcIp);
        AddressTables(set.Dst4, set.Dst6, specs, words, s => s.DstIp);
        AddressTables(set.InnerSrc4, set.InnerSrc6, specs, words, s => s.InnerSrcIp);
        AddressTables(set.InnerDst4, set.InnerDst6, specs, words, s => s.InnerDstIp);
        RangeTable(set.SrcPort, specs, words, s => s.SrcPort is { } r ? (r.From, r.To) : null, bits: 16);
        RangeTable(set.DstPort, specs, words, s => s.DstPort is { } r ? (r.From, r.To) : null, bits: 16);
        RangeTable(set.InnerSrcPort, specs, words, s => s.InnerSrcPort is { } r ? (r.From, r.To) : null, bits: 16);
        RangeTable(set.InnerDstPort, specs, words, s => s.InnerDstPort is { } r ? (r.From, r.To) : null, bits: 16);
        RangeTable(set.Icmp, specs, words, s => s.IcmpType switch
        {
            null => null,
            { } t when s.IcmpCode is { } c => (t << 8 | c, t << 8 | c),
            { } t => (t << 8, t << 8 | 0xff),
        }, bits: 16);
        return set;
    }

    private static bool HasInner(FilterRuleSpec s) =>
        s.InnerSrcIp is not null || s.InnerDstIp is not null || s.InnerProtocol is not null || s.InnerSrcPort is not null || s.InnerDstPort is not null;

    private static RuleVector Copy(RuleVector source)
    {
        var v = new RuleVector(source.Words.Length);
        source.Words.CopyTo(v.Words, 0);
        return v;
    }

    /// <summary>A [256] table for a one-byte field: rules naming no value (null) match every value.</summary>
    private static RuleVector[] ValueTable(FilterRuleSpec[] specs, int words, Func<FilterRuleSpec, byte?> field)
    {
        var open = new RuleVector(words);
        var named = new List<int>?[256];
        for (var i = 0; i < specs.Length; i++)
        {
            if (field(specs[i]) is { } value)
                (named[value] ??= new()).Add(i);
            else
                open.Set(i);
        }
        var table = new RuleVector[256];
        for (var value = 0; value < 256; value++)
        {
            table[value] = Copy(open);
            if (named[value] is { } members)
                foreach (var i in members)
                    table[value].Set(i);
        }
        return table;
    }

    /// <summary>
    /// The [256] TCP flags table. Rules are grouped by (flags, mask), so each flags byte tests each distinct
    /// pair once; a big group is ORed in as a whole vector, a small one bit by bit.
    /// </summary>
    private static RuleVector[] FlagsTable(FilterRuleSpec[] specs, int words)
    {
        var byPair = new Dictionary<int, List<int>>();
        for (var i = 0; i < specs.Length; i++)
        {
            var pair = specs[i].TcpFlags << 8 | specs[i].TcpFlagsMask;
            if (!byPair.TryGetValue(pair, out var members))
                byPair[pair] = members = new();
            members.Add(i);
        }
        var groups = byPair.Select(g => new FlagsGroup((byte)(g.Key >> 8), (byte)g.Key, g.Value, g.Value.Count < words ? null : Vector(g.Value, words)))
            .ToArray();
        var table = new RuleVector[256];
        for (var f = 0; f < 256; f++)
        {
            var v = table[f] = new RuleVector(words);
            foreach (var g in groups)
            {
                if ((f & g.Mask) != g.Flags)
                    continue;
                if (g.All is { } all)
                    for (var w = 0; w < words; w++)
                        v.Words[w] |= all.Words[w];
                else
                    foreach (var i in g.Members)
                        v.Set(i);
            }
        }
        return table;
    }

    private sealed record FlagsGroup(byte Flags, byte Mask, List<int> Members, RuleVector? All);

    private static RuleVector Vector(List<int> members, int words)
    {
        var v = new RuleVector(words);
        foreach (var i in members)
            v.Set(i);
        return v;
    }

    /// <summary>
    /// One entry per distinct prefix of each family, holding the rules whose prefix covers it, plus a /0
    /// entry with the rules that leave the field open. Rules of the other family never match.
    /// </summary>
    private static void AddressTables(List<PrefixEntry> table4, List<PrefixEntry> table6, FilterRuleSpec[] specs, int words,
        Func<FilterRuleSpec, AddressMatch?> field)
    {
        var open = new RuleVector(words);
        var v4 = new List<(UInt128 Key, int Length, int Rule)>();
        var v6 = new List<(UInt128 Key, int Length, int Rule)>();
        for (var i = 0; i < specs.Length; i++)
        {
            if (field(specs[i]) is not { } a)
                open.Set(i);
            else
                (a.IsIpv6 ? v6 : v4).Add((CompiledRuleSet.Key(IPAddress.Parse(a.Network)), a.PrefixLength, i));
        }
        AddressTable(table4, v4, open, words, bits: 32);
        AddressTable(table6, v6, open, words, bits: 128);
    }

    /// <summary>
    /// A prefix's vector is its nearest ancestor's vector plus the rules naming the prefix itself: the
    /// ancestors of a prefix form a chain, so the nearest one already holds every shorter covering prefix.
    /// </summary>
    private static void AddressTable(List<PrefixEntry> table, List<(UInt128 Key, int Length, int Rule)> named, RuleVector open,
        int words, int bits)
    {
        // Prefixes in first-seen order (the /0 first), host bits cleared so equal prefixes meet.
        var prefixes = new List<(UInt128 Value, int Length)> { (0, 0) };
        var members = new List<List<int>> { new() };
        var byLength = new Dictionary<UInt128, int>?[bits + 1];
        byLength[0] = new() { [0] = 0 };
        foreach (var (key, length, rule) in named)
        {
            var value = Mask(key, length, bits);
            var sameLength = byLength[length] ??= new();
            if (!sameLength.TryGetValue(value, out var k))
            {
                sameLength[value] = k = prefixes.Count;
                prefixes.Add((value, length));
                members.Add(new());
            }
            members[k].Add(rule);
        }
        var lengths = Enumerable.Range(0, bits + 1).Where(l => byLength[l] is not null).ToArray();

        var vectors = new RuleVector[prefixes.Count];
        for (var li = 0; li < lengths.Length; li++) // shortest first, so ancestors are done before their descendants
            foreach (var (value, k) in byLength[lengths[li]]!)
            {
                var ancestor = -1;
                for (var l = li - 1; l >= 0 && ancestor < 0; l--)
                    if (byLength[lengths[l]]!.TryGetValue(Mask(value, lengths[l], bits), out var found))
                        ancestor = found;
                var v = vectors[k] = Copy(ancestor < 0 ? open : vectors[ancestor]);
                foreach (var i in members[k])
                    v.Set(i);
            }
        for (var k = 0; k < prefixes.Count; k++)
            table.Add(new PrefixEntry(prefixes[k].Value, prefixes[k].Length, vectors[k]));
    }

    private static UInt128 Mask(UInt128 value, int length, int bits) => length == 0 ? 0 : value >> (bits - length) << (bits - length);

    /// <summary>
    /// Cuts the key space at every range boundary into elementary intervals (each with one set of matching
    /// rules) and covers each interval with prefixes, so the longest prefix of any key names its interval.
    /// The intervals' vectors come from one sweep over the boundaries, adding a rule where its range starts
    /// and removing it after its range ends; the prefixes of one interval share its vector.
    /// </summary>
    private static void RangeTable(List<PrefixEntry> table, FilterRuleSpec[] specs, int words,
        Func<FilterRuleSpec, (int From, int To)?> field, int bits)
    {
        var max = (1 << bits) - 1;
        var current = new RuleVector(words);
        var cuts = new List<int> { 0 };
        var starts = new List<long>(); // at << 32 | rule, sorted by where
        var ends = new List<long>();
        for (var i = 0; i < specs.Length; i++)
        {
            if (field(specs[i]) is not { } range)
            {
                current.Set(i);
                continue;
            }
            cuts.Add(range.From);
            if (range.To < max)
                cuts.Add(range.To + 1);
            if (range.From > range.To)
                continue; // empty: matches nothing
            starts.Add((long)range.From << 32 | (uint)i);
            if (range.To < max)
                ends.Add((long)(range.To + 1) << 32 | (uint)i);
        }
        starts.Sort();
        ends.Sort();
        cuts.Sort();
        int s = 0, e = 0;
        for (var k = 0; k < cuts.Count; k++)
        {
            var from = cuts[k];
            if (k > 0 && from == cuts[k - 1])
                continue;
            var next = k + 1;
            while (next < cuts.Count && cuts[next] == from)
                next++;
            var to = next < cuts.Count ? cuts[next] - 1 : max;
            for (; e < ends.Count && ends[e] >> 32 == from; e++)
                current.Words[(int)ends[e] >> 6] &= ~(1UL << ((int)ends[e] & 63));
            for (; s < starts.Count && starts[s] >> 32 == from; s++)
                current.Set((int)starts[s]);
            var v = Copy(current);
            foreach (var (value, length) in Prefixes(from, to, bits))
                table.Add(new PrefixEntry((UInt128)value, length, v));
        }
    }

    /// <summary>The fewest prefixes that cover [from, to] exactly.</summary>
    internal static IEnumerable<(int Value, int Length)> Prefixes(int from, int to, int bits)
    {
        long lo = from;
        while (lo <= to)
        {
            var size = 1L;
            while (size * 2 <= (1L << bits) && lo % (size * 2) == 0 && lo + size * 2 - 1 <= to)
                size *= 2;
            yield return ((int)lo, bits - BitOperations.Log2((ulong)size));
            lo += size;
        }
    }
}
