// Reads one kernel map every interval and publishes what changed on the telemetry bus, in chunks.
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using PacketScope.Actors.Telemetry;
using PacketScope.Native;

namespace PacketScope.Actors.Interfaces;

/// <summary>
/// What a map stream needs to know about its entries: their kernel timestamps, when one has been idle
/// too long (key, value, now in ns), and the kernel's count of entries ever created.
/// </summary>
public sealed record MapStreamSpec<TKey, TValue>(
    ValueStamp<TValue> LastSeen,
    ValueStamp<TValue> FirstSeen,
    IdleCheck<TKey, TValue> IsIdle,
    Func<ulong> CreatedTotal)
    where TKey : unmanaged where TValue : unmanaged;

/// <summary>Whether an entry has been idle past its timeout at <paramref name="nowNs"/>.</summary>
public delegate bool IdleCheck<TKey, TValue>(in TKey key, in TValue value, ulong nowNs);

public sealed class MapStreamActor<TKey, TValue> : ReceiveActor, IWithTimers
    where TKey : unmanaged where TValue : unmanaged
{
    private sealed class Read
    {
        public static readonly Read Instance = new();
    }

    private readonly string _interface;
    private readonly BpfMap _map;
    private readonly TelemetryBus _bus;
    private readonly ConntrackSettings _settings;
    private readonly MapStreamSpec<TKey, TValue> _spec;
    private readonly DeltaTracker<TKey, TValue> _tracker;
    private readonly TKey[] _keys;
    private readonly TValue[] _values;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ISourceQueueWithComplete<ITelemetry>? _queue;

    public MapStreamActor(string iface, BpfMap map, TelemetryBus bus, ConntrackSettings settings, MapStreamSpec<TKey, TValue> spec)
    {
        _interface = iface;
        _map = map;
        _bus = bus;
        _settings = settings;
        _spec = spec;
        _tracker = new DeltaTracker<TKey, TValue>(spec.LastSeen, spec.FirstSeen, settings.ChunkSize);
        _keys = new TKey[settings.BatchSize];
        _values = new TValue[settings.BatchSize];
        Receive<ResyncTelemetry>(r => r.Interface == _interface, _ => _tracker.Reset());
        ReceiveAsync<Read>(async _ =>
        {
            await ReadOnceAsync();
            Timers.StartSingleTimer(Read.Instance, Read.Instance, _settings.Interval);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string iface, BpfMap map, TelemetryBus bus, ConntrackSettings settings, MapStreamSpec<TKey, TValue> spec) =>
        Akka.Actor.Props.Create(() => new MapStreamActor<TKey, TValue>(iface, map, bus, settings, spec));

    protected override void PreStart()
    {
        _queue = _bus.CreateProducer();
        Context.System.EventStream.Subscribe<ResyncTelemetry>(Self);
        Self.Tell(Read.Instance);
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        _queue?.Complete();
    }

    /// <summary>One full read: publish changes chunk by chunk (with backpressure), delete idle entries, publish removals.</summary>
    private async Task ReadOnceAsync()
    {
        var started = Stopwatch.GetTimestamp();
        var created = _spec.CreatedTotal();
        var clock = new ReadClock(MonotonicClock.NowNs(), MonotonicClock.RealtimeOffsetNs());
        var sizeHint = Math.Max(_tracker.Count, (long)(created - _tracker.Expired - _tracker.Evicted));
        _tracker.BeginRead(clock.ReadAtNs);
        var reader = _map.OpenBatchRead<TKey, TValue>();
        int n;
        while ((n = reader.Next(_keys, _values)) > 0)
        {
            for (var i = 0; i < n; i++)
                _tracker.Observe(_keys[i], _values[i], _spec.IsIdle(in _keys[i], in _values[i], clock.ReadAtNs));
            while (_tracker.TryTakeChunk(out var chunk))
                await PublishAsync(new MapDelta<TKey, TValue>(_interface, clock, chunk, [], null, sizeHint));
        }
        var deleted = 0;
        foreach (var key in _tracker.IdleKeys)
            if (_map.Delete(key))
                deleted++;
        var removals = _tracker.EndRead(created, deleted);
        var summary = new MapReadSummary(_tracker.Count, _tracker.Created, _tracker.Expired, _tracker.Evicted, _map.MaxEntries,
            Stopwatch.GetElapsedTime(started), _tracker.IsSnapshot);
        await PublishAsync(new MapDelta<TKey, TValue>(_interface, clock, _tracker.DrainChanges(), removals, summary, sizeHint));
    }

    private async Task PublishAsync(ITelemetry message)
    {
        var result = await _queue!.OfferAsync(message);
        if (result is QueueOfferResult.Enqueued)
            return;
        // What was lost is already marked as seen: publish everything again at the next read.
        _log.Warning("{0}: telemetry for {1} not published ({2}); republishing at the next read", _interface, _map.Name, result);
        _tracker.Reset();
    }
}
