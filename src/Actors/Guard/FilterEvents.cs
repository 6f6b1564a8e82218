// Events of the rule store, as persisted in the journal. Past tense; each carries what recovery needs.
using PacketScope.Messages;

namespace PacketScope.Actors.Guard;

public interface IFilterEvent : IPacketScopeMessage;

public sealed record FilterAdded(FilterRule Rule) : IFilterEvent;

public sealed record FilterUpdated(FilterRule Rule) : IFilterEvent;

public sealed record FilterRemoved(int Id, DateTimeOffset At) : IFilterEvent;

/// <summary>The rule reached its expiry time and left by itself.</summary>
public sealed record FilterExpired(int Id, DateTimeOffset At) : IFilterEvent;
