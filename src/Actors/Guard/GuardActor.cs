// One per node: follows the rule store (its answer at start, then every FilterRuleSetChanged), compiles
// the enabled rules into a kernel image and hands it to the interfaces. Bursts of changes compile once.
using Akka.Actor;
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

    private readonly IActorRef _store;
    private readonly GuardState _state;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private FilterRuleSetChanged? _pending;
    private long _compiled = -1;

    public GuardActor(IActorRef store, GuardState state)
    {
        _store = store;
        _state = state;
        // The store may still be recovering (or restarting after a journal failure): ask until it answers.
        Receive<AskStore>(_ => _store.Tell(GetFilters.Instance));
        Receive<FiltersResponse>(r =>
        {
            Timers.Cancel(AskStore.Instance);
            Changed(new FilterRuleSetChanged(r.Version, r.Rules));
        });
        Receive<FilterRuleSetChanged>(Changed);
        Receive<Compile>(_ => CompilePending());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef store, GuardState state) => Akka.Actor.Props.Create(() => new GuardActor(store, state));

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(FilterRuleSetChanged));
        Self.Tell(AskStore.Instance);
        Timers.StartPeriodicTimer(AskStore.Instance, AskStore.Instance, TimeSpan.FromSeconds(1));
    }

    private void Changed(FilterRuleSetChanged change)
    {
        if (change.Version <= _compiled || change.Version <= (_pending?.Version ?? -1))
            return;
        if (_pending is null)
            Self.Tell(Compile.Instance); // after whatever else is queued: later changes replace this one
        _pending = change;
    }

    private void CompilePending()
    {
        if (_pending is not { } change)
            return;
        _pending = null;
        try
        {
            var set = RuleSetCompiler.Compile(change.Rules, DateTimeOffset.UtcNow);
            var image = KernelRuleSet.Build(set, change.Version);
            if (FilterTables.CheckFits(image) is { } tooBig)
                throw new InvalidOperationException(tooBig);
            _compiled = change.Version;
            _state.SetCurrent(image);
            Context.System.EventStream.Publish(new FilterImageReady(image));
            _log.Info("filter rule set version {0}: {1} enabled rules compiled", change.Version, set.Rules.Count);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // The kernel keeps the last good rule set; the store refuses sets this large before they are stored.
            _log.Error(e, "filter rule set version {0} cannot go into the kernel; keeping version {1}", change.Version, _compiled);
        }
    }
}
