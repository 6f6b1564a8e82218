// C# mirrors of bpf/include/filter_shared.h (the Guarder's kernel rule tables). Field names are the
// C names; tests/PacketScope.Native.Tests checks every sizeof/offsetof against the header.
using System.Runtime.InteropServices;

namespace PacketScope.Native.Shared;

public static class FilterShared
{
    public const string ActiveMap = "ps_filter_active_gen";
    public const string GensMap = "ps_filter_gens";
    public const string VecsMap = "ps_filter_vecs";
    public const string AddrsMap = "ps_filter_addrs";
    public const string PortsMap = "ps_filter_ports";
    public const string SmallMap = "ps_filter_small";
    public const string RulesMap = "ps_filter_rules";
    public const string HitsMap = "ps_filter_hits";
    public const string MasksMap = "ps_filter_masks";
    public const string SyncMap = "ps_filter_sync";
    public const string OnesMap = "ps_filter_ones";
    public const string SyncInnerMap = "ps_filter_sync_inner";
    public const string Early4Map = "ps_filter_early4";

    public const int MaxRules = 10_240;
    public const int HitSlots = 2 * MaxRules;
    public const int Words = MaxRules / 64;
    public const int Gens = 2;
    public const int VecsPerGen = 65_536;
    public const int AddrsPerGen = 65_536;
    public const int PortKeys = 65_536;
    public const int SmallKeys = 256;
    public const int MaxLens = 128;
    /// <summary>A vector id with this bit is the one-rule vector of the rule in its low bits (stored nowhere).</summary>
    public const uint Single = 0x8000_0000;
    /// <summary>A vector id with this bit names the rule in its low bits (<see cref="RuleMask"/>) as the winner: the classifier stops there.</summary>
    public const uint Winner = 0x4000_0000;
    public const uint RuleMask = 0x3FFF;
    /// <summary>ps_filter_early4: one entry per IPv4 /16 and address field (src, dst) per generation.</summary>
    public const int Early4Keys = 65_536;
    /// <summary>In ps_filter_early4: longer prefixes than /16 exist inside this /16 (looked up in the hash first).</summary>
    public const uint Deeper = 0x2000_0000;
    public const int AddrFields = 4;
    public const int PortFields = 5;
    public const int SmallFields = 3;
}

/// <summary>enum ps_filter_field: bit f of ps_filter_gen.fields.</summary>
public enum FilterField
{
    Src = 0,
    Dst,
    InnerSrc,
    InnerDst,
    DstPort,
    SrcPort,
    Icmp,
    InnerSrcPort,
    InnerDstPort,
    Protocol,
    TcpFlags,
    InnerProtocol,
    NoInner,
    NoL4,
    Max,
}

/// <summary>enum ps_filter_action</summary>
public enum FilterVerdict : byte
{
    Drop = 0,
    Allow = 1,
    Monitor = 2,
}

[StructLayout(LayoutKind.Sequential)]
public struct ps_filter_active
{
    public uint gen;
    private uint _pad;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct ps_filter_gen
{
    public ulong version;
    public uint rules;
    public uint words;
    public uint fields;
    public uint no_inner_vec;
    public uint no_l4_vec;
    public uint epoch; // new on every apply, never 0: flows cache their verdict for one epoch
    public uint early; // bits FilterField.Src / Dst: looked up before the flow table (a drop rule an address decides alone)
    public fixed uint any_vec[2 * FilterShared.AddrFields];
    public fixed byte nlens[2 * FilterShared.AddrFields];
    public fixed byte lens[2 * FilterShared.AddrFields * FilterShared.MaxLens];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct ps_filter_addr_key : IEquatable<ps_filter_addr_key>
{
    public byte gen;
    public byte family;
    public byte field;
    public byte len;
    public fixed byte addr[16];

    public readonly bool Equals(ps_filter_addr_key other) => Bytes.Equal(this, other);

    public override readonly bool Equals(object? obj) => obj is ps_filter_addr_key k && Equals(k);

    public override readonly int GetHashCode() => Bytes.Hash(this);
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct ps_filter_mask
{
    public fixed uint m[4];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct ps_filter_vec
{
    public ushort first;
    public ushort last;
    private uint _pad;
    public fixed ulong w[FilterShared.Words];
}

[StructLayout(LayoutKind.Sequential)]
public struct ps_filter_rule
{
    public uint id;
    public ushort slot;
    public byte action;
    private byte _pad;
}

[StructLayout(LayoutKind.Sequential)]
public struct ps_filter_hit
{
    public ulong packets;
    public ulong bytes;
    public ulong last_hit_ns;
}
