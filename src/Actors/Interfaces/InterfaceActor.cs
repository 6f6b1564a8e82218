// Owns one interface's tracker: loads the BPF object, attaches XDP and tcx, runs one child per map stream.
using Akka.Actor;
using Akka.Event;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Telemetry;
using PacketScope.Native;
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Interfaces;

public sealed class InterfaceActor : ReceiveActor, IWithTimers
{
    private sealed class CheckInterface
    {
        public static readonly CheckInterface Instance = new();
    }

    private readonly string _interface;
    private readonly ConntrackSettings _settings;
    private readonly TelemetryBus _bus;
    private readonly GuardState _guard;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ConntrackProgram? _program;
    private int _ifindex;
    private string? _failure;
    private bool _lost;
    private bool _adopted; // the datapath was an earlier node's (pinned), still enforcing

    public InterfaceActor(string iface, ConntrackSettings settings, TelemetryBus bus, GuardState guard)
    {
        _interface = iface;
        _settings = settings;
        _bus = bus;
        _guard = guard;
        Receive<FilterImageReady>(ready => ApplyFilters(ready.Image));
        // The kernel drops our links when the device goes away (driver reload, veth deleted); a
        // device that comes back under the same name has a new index. Either way: fail and reload.
        Receive<CheckInterface>(_ =>
        {
            var now = NetInterface.IndexOf(_interface);
            if (now != _ifindex)
            {
                var lost = new InterfaceLostException(_interface, _ifindex, now);
                _failure = lost.Message;
                _lost = true;
                throw lost;
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    // Any failure in a map stream fails this actor; the backoff supervisor above then stops it (children
    // first, then PostStop detaches) and starts a fresh one after the backoff (PreStart attaches again).
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _failure = e.Message;
        return Directive.Escalate;
    });

    public static string ActorName(string iface) => $"iface-{Uri.EscapeDataString(iface)}";

    public static Props Props(string iface, ConntrackSettings settings, TelemetryBus bus, GuardState guard) =>
        Akka.Actor.Props.Create(() => new InterfaceActor(iface, settings, bus, guard));

    private void ApplyFilters(FilterImage image)
    {
        // The newest image compiled so far, whichever message brought us here: in a burst, the images queued
        // behind this one are older than what this applies and are skipped.
        if (_guard.Current is { } newest && newest.Version > image.Version)
            image = newest;
        if (_program is null || image.Version <= _program.Filters.AppliedVersion)
            return;
        try
        {
            _program.Filters.Apply(image);
            _log.Info("{0}: filter rule set version {1} in the kernel ({2} rules)", _interface, image.Version, image.Rules.Count);
        }
        catch (Exception e) when (e is BpfException or ArgumentException)
        {
            // The previous generation stays active: packets keep the last complete rule set. Try the newest again soon
            // (a transient ENOMEM); a newer image that arrives first makes the retry a no-op.
            _log.Error(e, "{0}: filter rule set version {1} could not be written; version {2} stays; retrying in 2 s", _interface,
                image.Version, _program.Filters.AppliedVersion);
            if (_guard.Current is { } latest)
                Timers.StartSingleTimer("filters-retry", new FilterImageReady(latest), TimeSpan.FromSeconds(2));
        }
    }

    protected override void PreStart()
    {
        var ifindex = _ifindex = NetInterface.IndexOf(_interface);
        AttachOutcome outcome;
        try
        {
            if (ifindex == 0)
                throw new BpfException(BpfException.ENODEV, $"find interface {_interface}");
            _program = ConntrackProgram.Load(_settings.ObjectPath, _settings.MaxFlows, _settings.MaxIcmp,
                _settings.Pins is null ? null : ConntrackProgram.PinDirectory(_interface));
            // Rules go in before the program is attached: no packet passes unfiltered at start-up. Tables taken over
            // from an earlier node go on enforcing what it had until a newer rule set arrives.
            // (A set on disk older than the adopted tables means its save failed, a full disk: the tables are newer.)
            if (_guard.Current is { } rules && !(rules.Version <= _program.Filters.AdoptedVersion))
                _program.Filters.Apply(rules);
            outcome = _program.Attach(_interface, ifindex, _settings.XdpMode);
        }
        catch (Exception e)
        {
            // What this start made goes; what an earlier node left attached stays, enforcing.
            _program?.ReleaseUnlessAttached();
            _program = null;
            _bus.Publish(new InterfaceStateChanged(_interface, ifindex, "failed", null, e.Message, DateTimeOffset.UtcNow));
            throw;
        }
        _adopted = outcome.Pins is PinOutcome.Adopted or PinOutcome.Replaced;
        var mode = outcome.Mode.ToString().ToLowerInvariant();
        if (outcome.Fallback is not null)
            _log.Warning("{0}: XDP in generic mode: {1} (auto falls back; --xdp-mode native would refuse to start)", _interface, outcome.Fallback);
        switch (outcome.Pins)
        {
            case PinOutcome.Adopted:
                _log.Info("{0}: adopted the pinned datapath of an earlier node (rule set version {1} in its tables): programs replaced in place, "
                    + "flows, counters and rules kept{2}", _interface, _program.Filters.AdoptedVersion?.ToString() ?? "none",
                    outcome.PinDetail is null ? "" : "; " + outcome.PinDetail);
                break;
            case PinOutcome.Replaced:
                _log.Warning("{0}: replaced the pinned datapath of an earlier node in place: {1}", _interface, outcome.PinDetail);
                break;
            case PinOutcome.CleanedUp:
                _log.Warning("{0}: cleaned up stale pinned state ({1}) and attached afresh", _interface, outcome.PinDetail);
                break;
        }
        _log.Info("{0}: tracking (XDP {1} ingress, tcx egress, {2} flows max{3})", _interface, mode, _settings.MaxFlows,
            _settings.Pins is null ? "" : $", pinned in {ConntrackProgram.PinDirectory(_interface)}");
        if (NetInterface.StripsVlanOnReceive(_interface) == true)
            _log.Warning("{0}: the driver strips VLAN tags before XDP (rx-vlan-offload on): tagged traffic is tracked "
                + "as VLAN 0 on ingress; `ethtool -K {0} rxvlan off` keeps the tags visible", _interface);
        _bus.Publish(new InterfaceStateChanged(_interface, ifindex, "attached", mode, null, DateTimeOffset.UtcNow, _program.Flows));

        _guard.Register(_interface, _program.Filters);
        Context.System.EventStream.Subscribe(Self, typeof(FilterImageReady));
        if (_guard.Current is { } latest)
            Self.Tell(new FilterImageReady(latest)); // published between the apply above and the subscription

        var stats = _program.Stats;
        var flowSpec = new MapStreamSpec<ps_flow_key, ps_flow_value>(
            (in ps_flow_value v) => v.last_seen_ns, (in ps_flow_value v) => v.first_seen_ns,
            (in ps_flow_key k, in ps_flow_value v, ulong now) => FlowState.IsIdle(k, v, now, _settings),
            () => StatsStreamActor.ReadCounter(stats, StatId.FlowNew).packets);
        var icmpSpec = new MapStreamSpec<ps_icmp_key, ps_icmp_value>(
            (in ps_icmp_value v) => v.last_seen_ns, (in ps_icmp_value v) => v.first_seen_ns,
            (in ps_icmp_key _, in ps_icmp_value v, ulong now) => now > v.last_seen_ns && now - v.last_seen_ns > (ulong)_settings.FlowIdleTimeout.Ticks * 100,
            () => StatsStreamActor.ReadCounter(stats, StatId.IcmpNew).packets);
        Context.ActorOf(MapStreamActor<ps_flow_key, ps_flow_value>.Props(_interface, _program.Flows, _bus, _settings, flowSpec), "flows");
        Context.ActorOf(MapStreamActor<ps_icmp_key, ps_icmp_value>.Props(_interface, _program.Icmp, _bus, _settings, icmpSpec), "icmp");
        Context.ActorOf(StatsStreamActor.Props(_interface, _program.Stats, _program.IcmpHistogram, _bus, _settings.Interval), "stats");
        Timers.StartPeriodicTimer(CheckInterface.Instance, CheckInterface.Instance, _settings.Interval);
    }

    // Children are stopped before this runs, so nothing reads the maps any more.
    protected override void PostStop()
    {
        if (_program is null)
            return;
        _guard.Unregister(_interface, _program.Filters);
        var version = _program.Filters.AppliedVersion;
        // A stop the node was asked for, or a device that is gone, detaches for good. Anything else (a failed
        // tracker about to reload, a node downed by the cluster) leaves the pinned datapath enforcing and counting.
        var release = _settings.Pins is null || _settings.Pins.ShouldRelease(_adopted) || _lost;
        if (release)
        {
            _program.Release();
            _log.Info("{0}: detached", _interface);
        }
        else
        {
            _program.Dispose();
            _log.Warning("{0}: left pinned: XDP keeps enforcing rule set version {1} and counting until a node takes it over "
                + "(`packetscope --detach {0}` removes it)", _interface, version);
        }
        _program = null;
        _bus.Publish(_failure is null
            ? new InterfaceStateChanged(_interface, _ifindex, "detached", null, null, DateTimeOffset.UtcNow)
            : new InterfaceStateChanged(_interface, _ifindex, "failed", null, _failure, DateTimeOffset.UtcNow));
    }

    // Only reached if a parent restarts this actor in place: stop the children before PostStop disposes the maps they read.
    protected override void PreRestart(Exception reason, object message)
    {
        _log.Error(reason, "{0}: tracker failed, reloading", _interface);
        foreach (var child in Context.GetChildren())
            Context.Stop(child);
        PostStop();
    }
}

public sealed class InterfaceLostException(string iface, int was, int now) : Exception(now == 0
    ? $"interface {iface} (index {was}) disappeared; waiting for it to come back"
    : $"interface {iface} was recreated (index {was} -> {now}); attaching again");
