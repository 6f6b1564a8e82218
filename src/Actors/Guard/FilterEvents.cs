// Events of the rule store, as persisted in the journal. Past tense; each carries what recovery needs.
using PacketScope.Messages;

namespace PacketScope.Actors.Guard;

public interface IFilterEvent : IPacketScopeMessage;

public sealed record FilterAdded(FilterRule Rule) : IFilterEvent;

public sealed record FilterUpdated(FilterRule Rule) : IFilterEvent;

public sealed record FilterRemoved(int Id, DateTimeOffset At) : IFilterEvent;

/// <summary>The rule reached its expiry time and left by itself.</summary>
public sealed record FilterExpired(int Id, DateTimeOffset At) : IFilterEvent;

/// <summary>
/// A store that took over (a cluster singleton started on another node, its journal behind the cluster's)
/// adopted the newest rule set a live node held: the whole set, its version and the next id.
/// </summary>
public sealed record FilterRuleSetAdopted(long Version, IReadOnlyList<FilterRule> Rules, int NextId, string From, DateTimeOffset At) : IFilterEvent;
