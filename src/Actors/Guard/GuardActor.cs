// One per node: follows the rule store (its answer at start, then a pull whenever the store says it moved
// on, and a poll that catches up on changes a node missed while unreachable), compiles the enabled rules
// into a kernel image and hands it to the interfaces. One pull is in flight at a time and only the newest
// set held is compiled, so a burst of changes costs a pull and a compile per round trip, not per change.
// Tells a new rule store which rule set it holds.
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using PacketScope.Messages;
using PacketScope.Native;

namespace PacketScope.Actors.Guard;

/// <summary>A new kernel image for every interface to apply (local to the node).</summary>
public sealed record FilterImageReady(FilterImage Image);

public sealed class GuardActor : ReceiveActor, IWithTimers
{
    public const string Name = "guard";

    private sealed class Compile
    {
        public static readonly Compile Instance = new();
    }

    private sealed class AskStore
    {
        public static readonly AskStore Instance = new();
    }

    /// <summary>How often a node asks the store whether it missed a change (pub-sub delivers at most once).</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Compiles follow each other at least this far apart: in a burst each one takes tens of milliseconds of CPU at
    /// 10,000 rules, which back to back would take a core from the store and the API; a lone change compiles at once.
    /// </summary>
    public static readonly TimeSpan CompileSpacing = TimeSpan.FromMilliseconds(100);

    /// <summary>A pull not answered within this is taken as lost (the store moved): the next news pulls again.</summary>
    private static readonly TimeSpan PullTimeout = TimeSpan.FromSeconds(1);

    private readonly IActorRef _store;
    private readonly GuardState _state;
    private readonly IActorRef? _mediator;
    private readonly LastKnownRules? _lastKnown;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private FilterRuleSetChanged? _held; // the newest set seen: compiled once a queued Compile reaches it
    private bool _compileQueued;
    private long _compiled = -1;
    private long _compiledAt = long.MinValue / 2; // Environment.TickCount64 when the last compile ended
    private bool _answered;
    private long _pulledAt; // Environment.TickCount64 of the pull in flight; 0: none
    private long _newest = -1; // the newest version the store said it has

    /// <param name="mediator">Distributed pub-sub, to follow the store's topic; null: the local event stream.</param>
    /// <param name="lastKnown">Where each compiled set is kept for the next start (null: nowhere).</param>
    public GuardActor(IActorRef store, GuardState state, IActorRef? mediator = null, LastKnownRules? lastKnown = null)
    {
        _store = store;
        _state = state;
        _mediator = mediator;
        _lastKnown = lastKnown;
        if (state.LastKnown is { } restored)
        {
            // Restored from disk and already in the kernel tables: what this node holds until the store says otherwise.
            _held = restored;
            _compiled = restored.Version;
        }
        // The store may still be recovering, restarting after a journal failure, or moving to another node:
        // ask every second until it answers, then every PollInterval for what this node may have missed.
        Receive<AskStore>(_ => _store.Tell(new GetFiltersSince(_held?.Version ?? -1)));
        Receive<FiltersResponse>(r =>
        {
            Changed(new FilterRuleSetChanged(r.Version, r.Rules, r.NextId));
            Answered();
        });
        Receive<FiltersUpToDate>(_ => Answered());
        Receive<FilterRuleSetAdvanced>(a =>
        {
            _state.MarkAnswered(); // the store speaking: whatever this node restored from disk is no longer all it knows
            _newest = Math.Max(_newest, a.Version);
            PullIfBehind();
        });
        Receive<FilterRuleSetChanged>(change => // a whole set, told directly (tests; a store of an older release)
        {
            _state.MarkAnswered();
            Changed(change);
        });
        Receive<GetHeldRuleSet>(_ => Sender.Tell(_held ?? new FilterRuleSetChanged(-1, [], 1)));
        Receive<SubscribeAck>(_ => { });
        Receive<Compile>(_ => CompilePending());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef store, GuardState state, IActorRef? mediator = null, LastKnownRules? lastKnown = null) =>
        Akka.Actor.Props.Create(() => new GuardActor(store, state, mediator, lastKnown));

    protected override void PreStart()
    {
        if (_mediator is null)
            Context.System.EventStream.Subscribe(Self, typeof(FilterRuleSetChanged));
        else
            _mediator.Tell(new Subscribe(FilterStoreActor.Topic, Self));
        Self.Tell(AskStore.Instance);
        Timers.StartPeriodicTimer(AskStore.Instance, AskStore.Instance, TimeSpan.FromSeconds(1));
    }

    // What arrives while a pull is in flight waits for its answer: that answer, or the next pull, brings the newest.
    private void PullIfBehind()
    {
        var held = _held?.Version ?? -1;
        if (_newest <= held || _pulledAt != 0 && Environment.TickCount64 - _pulledAt < PullTimeout.TotalMilliseconds)
            return;
        _pulledAt = Environment.TickCount64;
        _store.Tell(new GetFiltersSince(held));
    }

    private void Answered()
    {
        _state.MarkAnswered();
        _pulledAt = 0;
        PullIfBehind();
        if (_answered)
            return;
        _answered = true;
        Timers.StartPeriodicTimer(AskStore.Instance, AskStore.Instance, PollInterval);
    }

    private void Changed(FilterRuleSetChanged change)
    {
        if (change.Version <= (_held?.Version ?? -1))
            return;
        _held = change;
        if (change.Version <= _compiled || _compileQueued)
            return;
        _compileQueued = true;
        var wait = CompileSpacing.TotalMilliseconds - (Environment.TickCount64 - _compiledAt);
        if (wait <= 0)
            Self.Tell(Compile.Instance); // after whatever else is queued: later changes replace this one
        else
            Timers.StartSingleTimer(Compile.Instance, Compile.Instance, TimeSpan.FromMilliseconds(wait));
    }

    private void Keep(FilterRuleSetChanged change)
    {
        if (_lastKnown is null)
            return;
        try
        {
            _lastKnown.Save(change);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A full disk: the kernel has the new set anyway; a restart would start from the older file until the store answers.
            _log.Warning("could not keep rule set version {0} in {1}: {2}", change.Version, _lastKnown.Path, e.Message);
        }
    }

    private void CompilePending()
    {
        _compileQueued = false;
        if (_held is not { } change || change.Version <= _compiled)
            return;
        try
        {
            var image = KernelRuleSet.Build(change);
            // On disk before any kernel has it: a node killed at any moment restarts with a set at least as new as
            // the one its pinned tables enforce, never an older one.
            Keep(change);
            _compiled = change.Version;
            _state.SetCurrent(image);
            Context.System.EventStream.Publish(new FilterImageReady(image));
            _log.Info("filter rule set version {0}: {1} enabled rules compiled", change.Version, image.Rules.Count);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // The kernel keeps the last good rule set; the store refuses sets this large before they are stored.
            _log.Error(e, "filter rule set version {0} cannot go into the kernel; keeping version {1}", change.Version, _compiled);
        }
        finally
        {
            _compiledAt = Environment.TickCount64;
        }
    }
}
