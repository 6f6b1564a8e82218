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
/// A store that started on a node whose own journal (per-node SQLite) differs from what the cluster enforces
/// adopted the rule set the live members hold: the whole set, a version above both, and the next id.
/// </summary>
public sealed record FilterRuleSetAdopted(long Version, IReadOnlyList<FilterRule> Rules, int NextId, string From, DateTimeOffset At) : IFilterEvent;
