// Filter rules (Guarder): what an operator asks for, validated. The rule store and the kernel
// classifier (issue 3) build on this; every field mirrors the seed's JSON names in snake_case.
namespace PacketScope.Messages;

public enum FilterAction
{
    Drop,
    Allow,
    /// <summary>Count what would be dropped, drop nothing.</summary>
    Monitor,
}

public enum FilterRuleType
{
    Basic,
    Tcp,
    Udp,
    Icmp,
}

/// <summary>An address or prefix to match; null in a rule means any.</summary>
public sealed record AddressMatch(string Network, int PrefixLength, bool IsIpv6)
{
    public override string ToString() => $"{Network}/{PrefixLength}";
}

/// <summary>An inclusive port range; null in a rule means any.</summary>
public sealed record PortRange(int From, int To)
{
    public override string ToString() => From == To ? From.ToString() : $"{From}-{To}";
}

/// <summary>
/// Where a rule came from, as the seed's AI rule generator says it (ai_generated, ai_confidence 0-1, ai_reason): kept and
/// shown with the rule, never matched on.
/// </summary>
public sealed record FilterProvenance(bool AiGenerated, double? AiConfidence, string? AiReason);

/// <summary>
/// A validated rule as asked for. Protocol 0 means any protocol. IcmpType/IcmpCode null mean any;
/// Inner* fields only on ICMP rules, where they match the packet an ICMP error quotes.
/// Priority null: after every existing rule. Provenance null: written by hand.
/// </summary>
public sealed record FilterRuleSpec(
    FilterRuleType RuleType,
    byte Protocol,
    AddressMatch? SrcIp,
    AddressMatch? DstIp,
    PortRange? SrcPort,
    PortRange? DstPort,
    byte TcpFlags,
    byte TcpFlagsMask,
    byte? IcmpType,
    byte? IcmpCode,
    AddressMatch? InnerSrcIp,
    AddressMatch? InnerDstIp,
    byte? InnerProtocol,
    PortRange? InnerSrcPort,
    PortRange? InnerDstPort,
    FilterAction Action,
    bool Enabled,
    string Comment,
    int? Priority,
    DateTimeOffset? ExpiresAt,
    FilterProvenance? Provenance = null)
{
    /// <summary>Priorities run from 0 (first) to this.</summary>
    public const int MaxPriority = 1_000_000;
}

/// <summary>A stored rule: its stable id (never reused) and what it matches, in priority order (lower first).</summary>
public sealed record FilterRule(int Id, int Priority, FilterRuleSpec Spec, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt) : IPacketScopeMessage;

public sealed record AddFilter(FilterRuleSpec Spec) : IPacketScopeMessage;

/// <summary>IfUpdatedAt: refuse if the rule changed since it was read with that UpdatedAt (PUT merges onto what it read).</summary>
public sealed record UpdateFilter(int Id, FilterRuleSpec Spec, DateTimeOffset? IfUpdatedAt = null) : IPacketScopeMessage;

public sealed record RemoveFilter(int Id) : IPacketScopeMessage;

public sealed record SetFilterEnabled(int Id, bool Enabled) : IPacketScopeMessage;

public sealed record GetFilters : IPacketScopeMessage
{
    public static readonly GetFilters Instance = new();
}

/// <summary>Asks for the rule set only when the store's version is newer than <c>Version</c>: answered with
/// <see cref="FiltersResponse"/> if so, else <see cref="FiltersUpToDate"/> (how nodes catch up on changes they missed).</summary>
public sealed record GetFiltersSince(long Version) : IPacketScopeMessage;

public sealed record FiltersUpToDate(long Version) : IPacketScopeMessage;

/// <summary>The rule set at <c>Version</c>, which grows with every change; rules in priority order; the id the next new rule gets.</summary>
public sealed record FiltersResponse(long Version, IReadOnlyList<FilterRule> Rules, int NextId = 1) : IPacketScopeMessage;

/// <summary>The answer to a change: the rule as stored, or why nothing changed (Field names the input at fault).</summary>
/// <summary>Stale: an UpdateFilter whose IfUpdatedAt no longer held (the caller may read again and retry).</summary>
public sealed record FilterCommandResult(bool Ok, FilterRule? Rule, long Version, string? Error = null, string? Field = null, bool NotFound = false,
    bool Stale = false) : IPacketScopeMessage;

/// <summary>
/// A rule set at a version: every stored rule, enabled or not, and the id the next new rule gets (ids are never
/// reused, so a store that adopts this set goes on from there). What a GuardActor holds and tells a new store.
/// </summary>
public sealed record FilterRuleSetChanged(long Version, IReadOnlyList<FilterRule> Rules, int NextId = 1) : IPacketScopeMessage;

/// <summary>
/// Published by the rule store once its changes are persisted (one per batch of changes), and once after recovery:
/// only the version, so a burst of changes costs no copy of the whole set per change. A node that holds an older
/// set pulls the newest with <see cref="GetFiltersSince"/>, one pull at a time, so whatever arrives meanwhile is coalesced.
/// </summary>
public sealed record FilterRuleSetAdvanced(long Version) : IPacketScopeMessage;
