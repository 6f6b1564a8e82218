// The node's in-memory view: consumes the telemetry bus and answers the REST API's queries.
using Akka.Actor;
using Akka.Event;
using PacketScope.Actors.Telemetry;
using PacketScope.Messages;
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Views;

public sealed class NodeViewActor : ReceiveActor
{
    public const string Name = "view";

    private sealed class StreamInit
    {
        public static readonly StreamInit Instance = new();
    }

    private sealed class StreamAck
    {
        public static readonly StreamAck Instance = new();
    }

    private sealed class StreamComplete
    {
        public static readonly StreamComplete Instance = new();
    }

    private readonly string _node;
    private readonly IReadOnlyList<string> _expected;
    private readonly Dictionary<string, InterfaceView> _views = new();
    private readonly Dictionary<string, InterfaceStatus> _status = new();
    private readonly TelemetryBus _bus;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public NodeViewActor(string node, IReadOnlyList<string> interfaces, TelemetryBus bus)
    {
        _node = node;
        _expected = interfaces;
        foreach (var iface in interfaces)
        {
            _views[iface] = new InterfaceView(iface);
            _status[iface] = new InterfaceStatus(iface, 0, "starting", null, null, DateTimeOffset.UtcNow);
        }

        Receive<StreamInit>(_ => Sender.Tell(StreamAck.Instance));
        Receive<StreamComplete>(_ => { });
        Receive<Status.Failure>(f => _log.Error(f.Cause, "telemetry stream failed"));
        Receive<ITelemetry>(t =>
        {
            // Ack whatever happens: an unacked element would stall the bus and every map reader behind it.
            try
            {
                Apply(t);
            }
            finally
            {
                Sender.Tell(StreamAck.Instance);
            }
        });

        Receive<GetConnections>(q => Sender.Tell(QueryConnections(q.Query)));
        Receive<GetIcmp>(q => Sender.Tell(QueryIcmp(q.Query)));
        Receive<GetStats>(_ => Sender.Tell(new StatsResponse(_node, DateTimeOffset.UtcNow,
            _views.Values.Select(v => v.Stats()).OfType<InterfaceStats>()
                .Select(s => s with { XdpMode = _status.TryGetValue(s.Interface, out var st) ? st.XdpMode : null }).ToList())));
        Receive<GetNodeStatus>(_ => Sender.Tell(new NodeStatus(_node,
            // Ready once every interface is attached and its counters and flows have been read once: an answer after
            // that never leaves out an interface or shows a table it has not read yet.
            _expected.All(i => _status[i].State == "attached" && _views.TryGetValue(i, out var v) && v.HasFirstReading), _status.Values.ToList())));

        _bus = bus;
    }

    protected override void PreStart() => _bus.Subscribe(Self, StreamAck.Instance, StreamInit.Instance, StreamComplete.Instance);

    // The subscription outlives a restart (same actor ref): do not subscribe twice.
    protected override void PostRestart(Exception reason) { }

    private void Apply(ITelemetry telemetry)
    {
        switch (telemetry)
        {
            case MapDelta<ps_flow_key, ps_flow_value> d:
            {
                var view = View(d.Interface);
                view.Apply(d);
                CheckInSync(d.Interface, d.Final, view.FlowCount);
                break;
            }
            case MapDelta<ps_icmp_key, ps_icmp_value> d:
            {
                var view = View(d.Interface);
                view.Apply(d);
                CheckInSync(d.Interface, d.Final, view.IcmpCount);
                break;
            }
            case StatsReading r:
                View(r.Interface).Apply(r);
                break;
            case InterfaceStateChanged s:
                // Any change of attachment means the kernel maps we mirrored are gone or fresh.
                _views[s.Interface] = new InterfaceView(s.Interface, s.State == "attached" ? s.FlowMap : null);
                _status[s.Interface] = new InterfaceStatus(s.Interface, s.IfIndex, s.State, s.XdpMode, s.Error, s.Since);
                break;
        }
    }

    public static Props Props(string node, IReadOnlyList<string> interfaces, TelemetryBus bus) =>
        Akka.Actor.Props.Create(() => new NodeViewActor(node, interfaces, bus));

    // A view that joined late or lost a chunk holds a different number of entries than the map
    // stream tracks: ask for a full republish instead of staying wrong until each entry changes.
    private static void CheckInSync(string iface, MapReadSummary? final, long count)
    {
        if (final is not null && final.Active != count)
            Context.System.EventStream.Publish(new ResyncTelemetry(iface));
    }

    private InterfaceView View(string iface)
    {
        if (!_views.TryGetValue(iface, out var view))
            _views[iface] = view = new InterfaceView(iface);
        return view;
    }

    private ConnectionsResponse QueryConnections(ConnectionQuery q)
    {
        long total = 0;
        var all = new List<FlowRecord>();
        foreach (var view in _views.Values)
        {
            if (q.Interface is not null && view.Name != q.Interface)
                continue;
            var (count, top) = view.Query(_node, q with { Limit = q.Offset + q.Limit }); // each interface's top rows down to the page's end
            total += count;
            all.AddRange(top);
        }
        Func<FlowRecord, double> key = q.Sort switch
        {
            ConnectionSort.Packets => r => r.Packets,
            ConnectionSort.LastSeen => r => r.LastSeen.UtcTicks,
            ConnectionSort.Rate => r => r.BytesPerSecond,
            _ => r => r.Bytes,
        };
        return new ConnectionsResponse(total, all.OrderByDescending(key).ThenBy(r => r.Key, StringComparer.Ordinal).Skip(q.Offset).Take(q.Limit).ToList());
    }

    private IcmpResponse QueryIcmp(IcmpQuery q)
    {
        long total = 0;
        var all = new List<IcmpRecord>();
        foreach (var view in _views.Values)
        {
            if (q.Interface is not null && view.Name != q.Interface)
                continue;
            var (count, top) = view.QueryIcmp(_node, q);
            total += count;
            all.AddRange(top);
        }
        return new IcmpResponse(total, all.OrderByDescending(r => r.LastSeen).Take(q.Limit).ToList());
    }
}
