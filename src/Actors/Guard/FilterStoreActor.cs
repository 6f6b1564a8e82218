// The rule store: validated rules in, events persisted (Akka.Persistence), the rule set versioned.
// Written as a plain persistent actor with one persistence id, so it can run as a cluster singleton
// (issue 4) unchanged.
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using PacketScope.Messages;

namespace PacketScope.Actors.Guard;

public sealed class FilterStoreActor : ReceivePersistentActor, IWithTimers
{
    public const string Name = "filters";
    public const string DefaultPersistenceId = "packetscope-filter-rules";
    private const int PriorityStep = 10;
    public const int MaxEnabledRules = CompiledRuleSet.MaxRules;

    private sealed class ExpireDue
    {
        public static readonly ExpireDue Instance = new();
    }

    private readonly Dictionary<int, FilterRule> _rules = new();
    private readonly Func<DateTimeOffset> _clock;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly int _maxEnabled;
    private int _nextId = 1;
    private long _version;

    public FilterStoreActor(string persistenceId, Func<DateTimeOffset>? clock = null, int maxEnabled = MaxEnabledRules)
    {
        PersistenceId = persistenceId;
        _maxEnabled = maxEnabled;
        _clock = clock ?? (() => DateTimeOffset.UtcNow);

        Recover<IFilterEvent>(Apply);
        Recover<RecoveryCompleted>(_ =>
        {
            Timers.StartPeriodicTimer(ExpireDue.Instance, ExpireDue.Instance, TimeSpan.FromSeconds(1));
            PublishChange();
        });

        Command<GetFilters>(_ => Sender.Tell(Snapshot()));
        Command<AddFilter>(c =>
        {
            if (Conflict(c.Spec, exceptId: null) is { } error)
            {
                Sender.Tell(error);
                return;
            }
            if (c.Spec.Enabled && TooMany(exceptId: null) is { } full)
            {
                Sender.Tell(full);
                return;
            }
            var now = _clock();
            var rule = new FilterRule(_nextId, c.Spec.Priority ?? NextPriority(), c.Spec, now, now);
            PersistAndReply(new FilterAdded(rule), rule);
        });
        Command<UpdateFilter>(c =>
        {
            if (!_rules.TryGetValue(c.Id, out var old))
            {
                Sender.Tell(NotFound(c.Id));
                return;
            }
            if (c.IfUpdatedAt is { } read && read != old.UpdatedAt)
            {
                Sender.Tell(new FilterCommandResult(false, old, _version,
                    $"filter rule {c.Id} changed after this request read it; read it again and retry", "rule", Stale: true));
                return;
            }
            if (Conflict(c.Spec, exceptId: c.Id) is { } error)
            {
                Sender.Tell(error);
                return;
            }
            if (c.Spec.Enabled && !old.Spec.Enabled && TooMany(exceptId: c.Id) is { } full)
            {
                Sender.Tell(full);
                return;
            }
            var rule = old with { Priority = c.Spec.Priority ?? old.Priority, Spec = c.Spec, UpdatedAt = _clock() };
            PersistAndReply(new FilterUpdated(rule), rule);
        });
        Command<SetFilterEnabled>(c =>
        {
            if (!_rules.TryGetValue(c.Id, out var old))
            {
                Sender.Tell(NotFound(c.Id));
                return;
            }
            if (old.Spec.Enabled == c.Enabled)
            {
                Sender.Tell(new FilterCommandResult(true, old, _version)); // already so: nothing to persist
                return;
            }
            if (c.Enabled && TooMany(exceptId: c.Id) is { } full)
            {
                Sender.Tell(full);
                return;
            }
            var rule = old with { Spec = old.Spec with { Enabled = c.Enabled }, UpdatedAt = _clock() };
            PersistAndReply(new FilterUpdated(rule), rule);
        });
        Command<RemoveFilter>(c =>
        {
            if (!_rules.TryGetValue(c.Id, out var old))
            {
                Sender.Tell(NotFound(c.Id));
                return;
            }
            PersistAndReply(new FilterRemoved(c.Id, _clock()), old);
        });
        Command<ExpireDue>(_ =>
        {
            var now = _clock();
            var due = _rules.Values.Where(r => r.Spec.ExpiresAt is { } at && at <= now).Select(r => new FilterExpired(r.Id, now)).ToList();
            if (due.Count > 0)
                PersistAll(due, e =>
                {
                    Apply(e);
                    PublishChange();
                    _log.Info("filter rule {0} expired", e.Id);
                });
        });
    }

    public override string PersistenceId { get; }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string persistenceId = DefaultPersistenceId, Func<DateTimeOffset>? clock = null, int maxEnabled = MaxEnabledRules) =>
        Akka.Actor.Props.Create(() => new FilterStoreActor(persistenceId, clock, maxEnabled));

    private void PersistAndReply(IFilterEvent e, FilterRule rule)
    {
        var sender = Sender;
        Persist(e, persisted =>
        {
            Apply(persisted);
            PublishChange();
            sender.Tell(new FilterCommandResult(true, persisted is FilterRemoved ? rule : _rules[rule.Id], _version));
        });
    }

    private void Apply(IFilterEvent e)
    {
        switch (e)
        {
            case FilterAdded a:
                _rules[a.Rule.Id] = a.Rule;
                _nextId = Math.Max(_nextId, a.Rule.Id + 1); // ids are never reused, even after a removal
                break;
            case FilterUpdated u:
                _rules[u.Rule.Id] = u.Rule;
                break;
            case FilterRemoved r:
                _rules.Remove(r.Id);
                break;
            case FilterExpired x:
                _rules.Remove(x.Id);
                break;
        }
        _version++;
    }

    // The node's GuardActor (and, in a cluster, every node's) follows the rule set through this.
    private void PublishChange() =>
        Context.System.EventStream.Publish(new FilterRuleSetChanged(_version, Snapshot().Rules));

    /// <summary>The kernel classifier holds a fixed number of enabled rules: refuse one more before it is stored.</summary>
    private FilterCommandResult? TooMany(int? exceptId) =>
        _rules.Values.Count(r => r.Spec.Enabled && r.Id != exceptId) >= _maxEnabled
            ? new FilterCommandResult(false, null, _version,
                $"{_maxEnabled} rules are enabled, the most the kernel classifier holds; disable or delete one first", "enabled")
            : null;

    private FiltersResponse Snapshot() =>
        new(_version, _rules.Values.OrderBy(r => r.Priority).ThenBy(r => r.Id).ToList());

    private int NextPriority() =>
        _rules.Count == 0 ? PriorityStep : Math.Min(_rules.Values.Max(r => r.Priority) + PriorityStep, FilterRuleSpec.MaxPriority);

    private FilterCommandResult NotFound(int id) => new(false, null, _version, $"no filter rule with id {id}", "id", NotFound: true);

    /// <summary>A rule that matches exactly what another matches is a duplicate (same action) or a conflict (other action).</summary>
    private FilterCommandResult? Conflict(FilterRuleSpec spec, int? exceptId)
    {
        var match = MatchPart(spec);
        foreach (var other in _rules.Values)
        {
            if (other.Id == exceptId || MatchPart(other.Spec) != match)
                continue;
            return other.Spec.Action == spec.Action
                ? new FilterCommandResult(false, other, _version, $"duplicate of filter rule {other.Id}, which matches the same packets", "rule")
                : new FilterCommandResult(false, other, _version,
                    $"conflicts with filter rule {other.Id}, which matches the same packets with action {other.Spec.Action.ToString().ToLowerInvariant()}; change that rule instead",
                    "action");
        }
        return null;
    }

    // What a rule matches, without what it does or how it is kept (a basic rule for tcp matches what a tcp rule does).
    private static FilterRuleSpec MatchPart(FilterRuleSpec s) =>
        s with { RuleType = FilterRuleType.Basic, Action = FilterAction.Drop, Enabled = true, Comment = "", Priority = null, ExpiresAt = null };
}
