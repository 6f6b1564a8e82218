// The rule store: validated rules in, events persisted (Akka.Persistence), the rule set versioned.
// One persistent actor with one persistence id; in a cluster it runs as a singleton and publishes every
// change to every node's GuardActor. With per-node journals (SQLite), a store that starts on a node
// adopts the rule set the live members hold when it differs from its own journal's: the members follow
// the store that ran last, while this node's journal may be older, or hold changes made on the losing
// side of a partition. With a shared journal (PostgreSQL) the journal is the truth and nothing is adopted.
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Persistence;
using PacketScope.Messages;

namespace PacketScope.Actors.Guard;

public sealed class FilterStoreActor : ReceivePersistentActor, IWithTimers
{
    public const string Name = "filters";
    /// <summary>The distributed pub-sub topic of <see cref="FilterRuleSetChanged"/>.</summary>
    public const string Topic = "packetscope-filter-rules";
    private static readonly TimeSpan AdoptionWindow = TimeSpan.FromSeconds(3);
    public const string DefaultPersistenceId = "packetscope-filter-rules";
    private const int PriorityStep = 10;
    public const int MaxEnabledRules = CompiledRuleSet.MaxRules;

    private sealed class ExpireDue
    {
        public static readonly ExpireDue Instance = new();
    }

    private sealed class AdoptionDue
    {
        public static readonly AdoptionDue Instance = new();
    }

    private readonly Dictionary<int, FilterRule> _rules = new();
    private readonly Func<DateTimeOffset> _clock;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly int _maxEnabled;
    private readonly IActorRef? _mediator;
    private readonly bool _adopt;
    private int _nextId = 1;
    private long _version;
    private int _awaitedHolders;
    private FilterRuleSetChanged? _newestHeld;
    private string? _newestHolder;

    /// <param name="mediator">Distributed pub-sub: changes go to its <see cref="Topic"/>; null: to the local event stream.</param>
    /// <param name="adopt">After recovery, ask every cluster member's GuardActor for the rule set it holds and adopt a newer one.</param>
    public FilterStoreActor(string persistenceId, Func<DateTimeOffset>? clock = null, int maxEnabled = MaxEnabledRules,
        IActorRef? mediator = null, bool adopt = false)
    {
        PersistenceId = persistenceId;
        _maxEnabled = maxEnabled;
        _clock = clock ?? (() => DateTimeOffset.UtcNow);
        _mediator = mediator;
        _adopt = adopt;

        Recover<IFilterEvent>(Apply);
        Recover<RecoveryCompleted>(_ =>
        {
            Timers.StartPeriodicTimer(ExpireDue.Instance, ExpireDue.Instance, TimeSpan.FromSeconds(1));
            if (_adopt)
                StartAdoption();
            else
                PublishChange();
        });
        Ready();
    }

    private void Ready()
    {
        Command<GetFilters>(_ => Sender.Tell(Snapshot()));
        Command<GetFiltersSince>(q => Sender.Tell(_version > q.Version ? Snapshot() : new FiltersUpToDate(_version)));
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

    // ---------------------------------------------------------------- adoption (cluster)

    private void StartAdoption()
    {
        var members = Cluster.Get(Context.System).State.Members.Where(m => m.Status == MemberStatus.Up).ToList();
        _awaitedHolders = members.Count;
        _newestHeld = null;
        foreach (var m in members)
            Context.ActorSelection(new RootActorPath(m.Address) / "user" / GuardActor.Name).Tell(GetHeldRuleSet.Instance);
        Timers.StartSingleTimer(AdoptionDue.Instance, AdoptionDue.Instance, AdoptionWindow);
        BecomeStacked(Adopting);
        if (_awaitedHolders == 0)
            FinishAdoption();
    }

    // Until every member answered (or the window closed), commands wait: a change now could reuse an id the cluster already gave.
    private void Adopting()
    {
        Command<FilterRuleSetChanged>(held =>
        {
            if (held.Version > (_newestHeld?.Version ?? -1))
            {
                _newestHeld = held;
                _newestHolder = Sender.Path.Address.ToString();
            }
            if (--_awaitedHolders <= 0)
                FinishAdoption();
        });
        Command<AdoptionDue>(_ =>
        {
            _log.Warning("rule store: {0} cluster member(s) did not say which rule set they hold within {1} s", _awaitedHolders, AdoptionWindow.TotalSeconds);
            FinishAdoption();
        });
        Command<ExpireDue>(_ => { }); // the next tick, once ready
        CommandAny(_ => Stash.Stash());
    }

    private void FinishAdoption()
    {
        Timers.Cancel(AdoptionDue.Instance);
        // Version numbers of two journals say nothing about which is newer: compare what the rules are. The adopted
        // set gets a version above both, so every node takes it (and ids go on above both).
        if (_newestHeld is { } held && held.Version >= 0 && !SameRules(held.Rules))
        {
            var from = _newestHolder ?? "?";
            var version = Math.Max(_version, held.Version) + 1;
            Persist(new FilterRuleSetAdopted(version, held.Rules, Math.Max(_nextId, held.NextId), from, _clock()), e =>
            {
                _log.Warning("rule store: this node's journal (version {0}, {1} rules) differs from the rules the cluster enforces " +
                    "(version {2} from {3}): adopted the cluster's {4} rules as version {5}", _version, _rules.Count, held.Version, e.From,
                    e.Rules.Count, e.Version);
                Apply(e);
                Adopted();
            });
            return;
        }
        Adopted();
    }

    private bool SameRules(IReadOnlyList<FilterRule> rules) =>
        rules.Count == _rules.Count && rules.All(r => _rules.TryGetValue(r.Id, out var mine) && mine == r);

    private void Adopted()
    {
        UnbecomeStacked();
        Stash.UnstashAll();
        PublishChange();
    }

    public override string PersistenceId { get; }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string persistenceId = DefaultPersistenceId, Func<DateTimeOffset>? clock = null, int maxEnabled = MaxEnabledRules,
        IActorRef? mediator = null, bool adopt = false) =>
        Akka.Actor.Props.Create(() => new FilterStoreActor(persistenceId, clock, maxEnabled, mediator, adopt));

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
            case FilterRuleSetAdopted a:
                _rules.Clear();
                foreach (var r in a.Rules)
                    _rules[r.Id] = r;
                _nextId = Math.Max(Math.Max(_nextId, a.NextId), a.Rules.Count == 0 ? 1 : a.Rules.Max(r => r.Id) + 1);
                _version = a.Version; // above the journal's and the cluster's
                return;
        }
        _version++;
    }

    // Every node's GuardActor follows the rule set through this (the local event stream outside a cluster).
    private void PublishChange()
    {
        var change = new FilterRuleSetChanged(_version, Snapshot().Rules, _nextId);
        if (_mediator is null)
            Context.System.EventStream.Publish(change);
        else
            _mediator.Tell(new Publish(Topic, change));
    }

    /// <summary>The kernel classifier holds a fixed number of enabled rules: refuse one more before it is stored.</summary>
    private FilterCommandResult? TooMany(int? exceptId) =>
        _rules.Values.Count(r => r.Spec.Enabled && r.Id != exceptId) >= _maxEnabled
            ? new FilterCommandResult(false, null, _version,
                $"{_maxEnabled} rules are enabled, the most the kernel classifier holds; disable or delete one first", "enabled")
            : null;

    private FiltersResponse Snapshot() =>
        new(_version, _rules.Values.OrderBy(r => r.Priority).ThenBy(r => r.Id).ToList(), _nextId);

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
        s with { RuleType = FilterRuleType.Basic, Action = FilterAction.Drop, Enabled = true, Comment = "", Priority = null, ExpiresAt = null, Provenance = null };
}
