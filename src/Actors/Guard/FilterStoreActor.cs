// The rule store: validated rules in, events persisted (Akka.Persistence), the rule set versioned.
// One persistent actor with one persistence id; in a cluster it runs as a singleton. Changes that arrive
// together are validated one by one against the state the earlier ones made, persisted as one batch (one
// journal write instead of one per change) and answered only once persisted; reads and refusals wait for
// the batch too. After each batch only the new version is published: every node's GuardActor pulls the set
// when it is behind. With per-node journals (SQLite), a store that starts on a node adopts the rule set
// the live members hold when it differs from its own journal's: the members follow the store that ran
// last, while this node's journal may be older, or hold changes made on the losing side of a partition.
// With a shared journal (PostgreSQL) the journal is the truth and nothing is adopted.
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

    /// <summary>Persists the changes staged since the last one (sent once per batch, behind the commands already queued).</summary>
    private sealed class Flush
    {
        public static readonly Flush Instance = new();
    }

    /// <summary>A change applied to the state, waiting for its journal write; ReplyTo hears once it is durable.</summary>
    private sealed record Staged(IFilterEvent Event, IActorRef? ReplyTo, FilterRule Rule, long Version);

    private readonly Dictionary<int, FilterRule> _rules = new();
    // Indexes over _rules, so that one change costs the same at 10 rules as at 10,000.
    private readonly Dictionary<FilterRuleSpec, List<int>> _byMatch = new();
    private int _enabled;
    private int? _maxPriority; // null: to be found again (the rule that had it left)
    private FiltersResponse? _snapshot; // the sorted set of _version, built once per version
    private readonly List<Staged> _staged = new();
    private readonly List<(IActorRef To, FilterCommandResult Result)> _afterBatch = new();
    private bool _flushQueued;
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
        // A read never sees a change that is not durable yet: it waits for the batch being staged.
        Command<GetFilters>(_ =>
        {
            if (!WaitsForBatch())
                Sender.Tell(Snapshot());
        });
        Command<GetFiltersSince>(q =>
        {
            if (!WaitsForBatch())
                Sender.Tell(_version > q.Version ? Snapshot() : new FiltersUpToDate(_version));
        });
        Command<Flush>(_ => FlushStaged());
        Command<AddFilter>(c =>
        {
            if (Conflict(c.Spec, exceptId: null) is { } error)
            {
                Answer(error);
                return;
            }
            if (c.Spec.Enabled && TooMany(exceptId: null) is { } full)
            {
                Answer(full);
                return;
            }
            var now = _clock();
            var rule = new FilterRule(_nextId, c.Spec.Priority ?? NextPriority(), c.Spec, now, now);
            Stage(new FilterAdded(rule), Sender, rule);
        });
        Command<UpdateFilter>(c =>
        {
            if (!_rules.TryGetValue(c.Id, out var old))
            {
                Answer(NotFound(c.Id));
                return;
            }
            if (c.IfUpdatedAt is { } read && read != old.UpdatedAt)
            {
                Answer(new FilterCommandResult(false, old, _version,
                    $"filter rule {c.Id} changed after this request read it; read it again and retry", "rule", Stale: true));
                return;
            }
            if (Conflict(c.Spec, exceptId: c.Id) is { } error)
            {
                Answer(error);
                return;
            }
            if (c.Spec.Enabled && !old.Spec.Enabled && TooMany(exceptId: c.Id) is { } full)
            {
                Answer(full);
                return;
            }
            var rule = old with { Priority = c.Spec.Priority ?? old.Priority, Spec = c.Spec, UpdatedAt = _clock() };
            Stage(new FilterUpdated(rule), Sender, rule);
        });
        Command<SetFilterEnabled>(c =>
        {
            if (!_rules.TryGetValue(c.Id, out var old))
            {
                Answer(NotFound(c.Id));
                return;
            }
            if (old.Spec.Enabled == c.Enabled)
            {
                Answer(new FilterCommandResult(true, old, _version)); // already so: nothing to persist
                return;
            }
            if (c.Enabled && TooMany(exceptId: c.Id) is { } full)
            {
                Answer(full);
                return;
            }
            var rule = old with { Spec = old.Spec with { Enabled = c.Enabled }, UpdatedAt = _clock() };
            Stage(new FilterUpdated(rule), Sender, rule);
        });
        Command<RemoveFilter>(c =>
        {
            if (!_rules.TryGetValue(c.Id, out var old))
            {
                Answer(NotFound(c.Id));
                return;
            }
            Stage(new FilterRemoved(c.Id, _clock()), Sender, old);
        });
        Command<ExpireDue>(_ =>
        {
            var now = _clock();
            foreach (var rule in _rules.Values.Where(r => r.Spec.ExpiresAt is { } at && at <= now).ToList())
                Stage(new FilterExpired(rule.Id, now), null, rule);
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

    // The change is applied at once, so the next command is validated against it (ids, priorities, duplicates,
    // the enabled limit); its answer and the publish wait for the journal. If the write fails the actor stops
    // and recovers from the journal, which never held the change, and the caller hears nothing (a timeout).
    private void Stage(IFilterEvent e, IActorRef? replyTo, FilterRule rule)
    {
        Apply(e);
        _staged.Add(new Staged(e, replyTo, e is FilterRemoved or FilterExpired ? rule : _rules[rule.Id], _version));
        if (_flushQueued)
            return;
        _flushQueued = true;
        Self.Tell(Flush.Instance); // behind what is queued now: all of it goes into this batch
    }

    // A read while a batch is staged is stashed until the batch is durable (FlushStaged unstashes it).
    private bool WaitsForBatch()
    {
        if (_staged.Count == 0)
            return false;
        Stash.Stash();
        return true;
    }

    // A refusal or a no-op answers from the state, which may hold staged changes (a duplicate of a rule just added):
    // it waits for them to be durable too, and is told after them.
    private void Answer(FilterCommandResult result)
    {
        if (_staged.Count == 0)
            Sender.Tell(result);
        else
            _afterBatch.Add((Sender, result));
    }

    private void FlushStaged()
    {
        _flushQueued = false;
        if (_staged.Count == 0)
            return;
        var batch = _staged.ToList();
        var answers = _afterBatch.ToList();
        _staged.Clear();
        _afterBatch.Clear();
        var done = 0;
        // Commands that arrive meanwhile wait (PersistAll stashes them) and become the next batch.
        PersistAll(batch.Select(b => b.Event), _ =>
        {
            var staged = batch[done++];
            if (staged.Event is FilterExpired x)
                _log.Info("filter rule {0} expired", x.Id);
            staged.ReplyTo?.Tell(new FilterCommandResult(true, staged.Rule, staged.Version));
            if (done < batch.Count)
                return;
            foreach (var (to, result) in answers)
                to.Tell(result);
            PublishChange();
            Stash.UnstashAll(); // the reads that waited for this batch
        });
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        base.OnPersistRejected(cause, @event, sequenceNr);
        // The state already holds the change the journal refused: start again from what the journal holds.
        throw new InvalidOperationException($"the journal refused a filter rule change ({@event.GetType().Name}); recovering from the journal", cause);
    }

    private void Apply(IFilterEvent e)
    {
        switch (e)
        {
            case FilterAdded a:
                Put(a.Rule);
                _nextId = Math.Max(_nextId, a.Rule.Id + 1); // ids are never reused, even after a removal
                break;
            case FilterUpdated u:
                Put(u.Rule);
                break;
            case FilterRemoved r:
                Take(r.Id);
                break;
            case FilterExpired x:
                Take(x.Id);
                break;
            case FilterRuleSetAdopted a:
                foreach (var id in _rules.Keys.ToList())
                    Take(id);
                foreach (var r in a.Rules)
                    Put(r);
                _nextId = Math.Max(Math.Max(_nextId, a.NextId), a.Rules.Count == 0 ? 1 : a.Rules.Max(r => r.Id) + 1);
                _version = a.Version; // above the journal's and the cluster's
                _snapshot = null;
                return;
        }
        _version++;
        _snapshot = null;
    }

    private void Put(FilterRule rule)
    {
        Take(rule.Id);
        _rules[rule.Id] = rule;
        var match = MatchPart(rule.Spec);
        if (!_byMatch.TryGetValue(match, out var ids))
            _byMatch[match] = ids = new List<int>(1);
        ids.Add(rule.Id);
        if (rule.Spec.Enabled)
            _enabled++;
        if (_maxPriority is { } max)
            _maxPriority = Math.Max(max, rule.Priority);
    }

    private void Take(int id)
    {
        if (!_rules.Remove(id, out var rule))
            return;
        var match = MatchPart(rule.Spec);
        var ids = _byMatch[match];
        ids.Remove(id);
        if (ids.Count == 0)
            _byMatch.Remove(match);
        if (rule.Spec.Enabled)
            _enabled--;
        if (rule.Priority == _maxPriority)
            _maxPriority = null;
    }

    // Every node's GuardActor follows the rule set through this (the local event stream outside a cluster).
    private void PublishChange()
    {
        var change = new FilterRuleSetAdvanced(_version);
        if (_mediator is null)
            Context.System.EventStream.Publish(change);
        else
            _mediator.Tell(new Publish(Topic, change));
    }

    /// <summary>The kernel classifier holds a fixed number of enabled rules: refuse one more before it is stored.</summary>
    private FilterCommandResult? TooMany(int? exceptId) =>
        _enabled - (exceptId is { } id && _rules.TryGetValue(id, out var r) && r.Spec.Enabled ? 1 : 0) >= _maxEnabled
            ? new FilterCommandResult(false, null, _version,
                $"{_maxEnabled} rules are enabled, the most the kernel classifier holds; disable or delete one first", "enabled")
            : null;

    private FiltersResponse Snapshot() =>
        _snapshot ??= new(_version, _rules.Values.OrderBy(r => r.Priority).ThenBy(r => r.Id).ToList(), _nextId);

    private int NextPriority()
    {
        if (_rules.Count == 0)
            return PriorityStep;
        _maxPriority ??= _rules.Values.Max(r => r.Priority);
        return Math.Min(_maxPriority.Value + PriorityStep, FilterRuleSpec.MaxPriority);
    }

    private FilterCommandResult NotFound(int id) => new(false, null, _version, $"no filter rule with id {id}", "id", NotFound: true);

    /// <summary>A rule that matches exactly what another matches is a duplicate (same action) or a conflict (other action).</summary>
    private FilterCommandResult? Conflict(FilterRuleSpec spec, int? exceptId)
    {
        if (!_byMatch.TryGetValue(MatchPart(spec), out var ids))
            return null;
        foreach (var id in ids)
        {
            if (id == exceptId)
                continue;
            var other = _rules[id];
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
