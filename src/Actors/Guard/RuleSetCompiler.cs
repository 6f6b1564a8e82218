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

/// <summary>The fields of one packet that rules look at. Inner* only for ICMP errors (HasInner).</summary>
public sealed record PacketFields(
    byte Protocol, IPAddress Src, IPAddress Dst, ushort SrcPort, ushort DstPort, byte TcpFlags, byte IcmpType, byte IcmpCode,
    bool HasInner = false, IPAddress? InnerSrc = null, IPAddress? InnerDst = null, byte InnerProtocol = 0,
    ushort InnerSrcPort = 0, ushort InnerDstPort = 0);

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
            Longest(SrcPort, p.SrcPort, 16),
            Longest(DstPort, p.DstPort, 16),
            TcpFlags[p.TcpFlags],
            Longest(Icmp, (UInt128)(p.IcmpType << 8 | p.IcmpCode), 16),
        };
        if (p.HasInner)
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
    public static CompiledRuleSet Compile(IEnumerable<FilterRule> stored, DateTimeOffset? now = null)
    {
        var rules = stored.Where(r => r.Spec.Enabled && !(r.Spec.ExpiresAt <= now)).OrderBy(r => r.Priority).ThenBy(r => r.Id).ToList();
        if (rules.Count > CompiledRuleSet.MaxRules)
            throw new InvalidOperationException($"{rules.Count} enabled rules; the kernel classifier holds at most {CompiledRuleSet.MaxRules}");
        var words = Math.Max(1, (rules.Count + 63) / 64);
        var set = new CompiledRuleSet(rules, words);
        RuleVector Vector(Func<FilterRuleSpec, bool> matches)
        {
            var v = new RuleVector(words);
            for (var i = 0; i < rules.Count; i++)
                if (matches(rules[i].Spec))
                    v.Set(i);
            return v;
        }

        set.Protocol = Enumerable.Range(0, 256).Select(p => Vector(s => s.Protocol == 0 || s.Protocol == p)).ToArray();
        set.TcpFlags = Enumerable.Range(0, 256).Select(f => Vector(s => (f & s.TcpFlagsMask) == s.TcpFlags)).ToArray();
        set.InnerProtocol = Enumerable.Range(0, 256).Select(p => Vector(s => s.InnerProtocol is null || s.InnerProtocol == p)).ToArray();
        set.NoInner = Vector(s => !HasInner(s));

        AddressTable(set.Src4, rules, words, s => s.SrcIp, ipv6: false);
        AddressTable(set.Dst4, rules, words, s => s.DstIp, ipv6: false);
        AddressTable(set.Src6, rules, words, s => s.SrcIp, ipv6: true);
        AddressTable(set.Dst6, rules, words, s => s.DstIp, ipv6: true);
        AddressTable(set.InnerSrc4, rules, words, s => s.InnerSrcIp, ipv6: false);
        AddressTable(set.InnerDst4, rules, words, s => s.InnerDstIp, ipv6: false);
        AddressTable(set.InnerSrc6, rules, words, s => s.InnerSrcIp, ipv6: true);
        AddressTable(set.InnerDst6, rules, words, s => s.InnerDstIp, ipv6: true);
        RangeTable(set.SrcPort, rules, words, s => s.SrcPort is { } r ? (r.From, r.To) : null, bits: 16);
        RangeTable(set.DstPort, rules, words, s => s.DstPort is { } r ? (r.From, r.To) : null, bits: 16);
        RangeTable(set.InnerSrcPort, rules, words, s => s.InnerSrcPort is { } r ? (r.From, r.To) : null, bits: 16);
        RangeTable(set.InnerDstPort, rules, words, s => s.InnerDstPort is { } r ? (r.From, r.To) : null, bits: 16);
        RangeTable(set.Icmp, rules, words, s => s.IcmpType switch
        {
            null => null,
            { } t when s.IcmpCode is { } c => (t << 8 | c, t << 8 | c),
            { } t => (t << 8, t << 8 | 0xff),
        }, bits: 16);
        return set;
    }

    private static bool HasInner(FilterRuleSpec s) =>
        s.InnerSrcIp is not null || s.InnerDstIp is not null || s.InnerProtocol is not null || s.InnerSrcPort is not null || s.InnerDstPort is not null;

    /// <summary>
    /// One entry per distinct prefix of the family, holding the rules whose prefix covers it, plus a /0
    /// entry with the rules that leave the field open. Rules of the other family never match.
    /// </summary>
    private static void AddressTable(List<PrefixEntry> table, List<FilterRule> rules, int words,
        Func<FilterRuleSpec, AddressMatch?> field, bool ipv6)
    {
        var bits = ipv6 ? 128 : 32;
        // Each rule's prefix as a key once; null = the field is open, excluded = the other family.
        var ruleKeys = rules.Select(r => field(r.Spec) switch
        {
            null => (Open: true, Key: UInt128.Zero, Length: 0, Excluded: false),
            { } a when a.IsIpv6 != ipv6 => (Open: false, Key: UInt128.Zero, Length: 0, Excluded: true),
            { } a => (Open: false, Key: CompiledRuleSet.Key(IPAddress.Parse(a.Network)), Length: a.PrefixLength, Excluded: false),
        }).ToList();
        var prefixes = new HashSet<(UInt128 Value, int Length)> { (0, 0) };
        foreach (var k in ruleKeys)
            if (!k.Open && !k.Excluded)
                prefixes.Add((k.Key, k.Length));
        foreach (var (value, length) in prefixes)
        {
            var v = new RuleVector(words);
            for (var i = 0; i < rules.Count; i++)
            {
                var k = ruleKeys[i];
                if (k.Open || (!k.Excluded && k.Length <= length
                               && (k.Length == 0 || k.Key >> (bits - k.Length) == value >> (bits - k.Length))))
                    v.Set(i);
            }
            table.Add(new PrefixEntry(value, length, v));
        }
    }

    /// <summary>
    /// Cuts the key space at every range boundary into elementary intervals (each with one set of matching
    /// rules) and covers each interval with prefixes, so the longest prefix of any key names its interval.
    /// </summary>
    private static void RangeTable(List<PrefixEntry> table, List<FilterRule> rules, int words,
        Func<FilterRuleSpec, (int From, int To)?> field, int bits)
    {
        var max = (1 << bits) - 1;
        var cuts = new SortedSet<int> { 0 };
        foreach (var r in rules)
            if (field(r.Spec) is { } range)
            {
                cuts.Add(range.From);
                if (range.To < max)
                    cuts.Add(range.To + 1);
            }
        var starts = cuts.ToList();
        for (var k = 0; k < starts.Count; k++)
        {
            var from = starts[k];
            var to = k + 1 < starts.Count ? starts[k + 1] - 1 : max;
            var v = new RuleVector(words);
            for (var i = 0; i < rules.Count; i++)
                if (field(rules[i].Spec) is not { } range || (range.From <= from && to <= range.To))
                    v.Set(i);
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
