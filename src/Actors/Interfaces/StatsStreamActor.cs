// Reads the per-CPU stats and ICMP histogram maps every interval, sums the CPUs and publishes a reading.
using Akka.Actor;
using PacketScope.Actors.Telemetry;
using PacketScope.Native;
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Interfaces;

public sealed class StatsStreamActor : ReceiveActor, IWithTimers
{
    private sealed class Read
    {
        public static readonly Read Instance = new();
    }

    private readonly string _interface;
    private readonly BpfMap _stats;
    private readonly BpfMap _histogram;
    private readonly TelemetryBus _bus;
    private readonly TimeSpan _interval;

    public StatsStreamActor(string iface, BpfMap stats, BpfMap histogram, TelemetryBus bus, TimeSpan interval)
    {
        _interface = iface;
        _stats = stats;
        _histogram = histogram;
        _bus = bus;
        _interval = interval;
        Receive<Read>(_ =>
        {
            _bus.Publish(ReadStats(_interface, _stats, _histogram));
            Timers.StartSingleTimer(Read.Instance, Read.Instance, _interval);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string iface, BpfMap stats, BpfMap histogram, TelemetryBus bus, TimeSpan interval) =>
        Akka.Actor.Props.Create(() => new StatsStreamActor(iface, stats, histogram, bus, interval));

    protected override void PreStart() => Self.Tell(Read.Instance);

    /// <summary>Per-CPU values added up.</summary>
    public static ps_counter Sum(ReadOnlySpan<ps_counter> perCpu)
    {
        var sum = new ps_counter();
        foreach (var c in perCpu)
        {
            sum.packets += c.packets;
            sum.bytes += c.bytes;
        }
        return sum;
    }

    /// <summary>One stats counter of one hook, summed over CPUs.</summary>
    public static ps_counter ReadCounter(BpfMap stats, int hook, StatId stat, ps_counter[]? perCpu = null)
    {
        perCpu ??= new ps_counter[Libbpf.PossibleCpus];
        return stats.TryLookupPerCpu((uint)(hook * (int)StatId.Max + (int)stat), perCpu) ? Sum(perCpu) : default;
    }

    /// <summary>One stats counter summed over CPUs and both hooks.</summary>
    public static ps_counter ReadCounter(BpfMap stats, StatId stat)
    {
        var (ingress, egress) = (ReadCounter(stats, Conntrack.HookIngress, stat), ReadCounter(stats, Conntrack.HookEgress, stat));
        return new ps_counter { packets = ingress.packets + egress.packets, bytes = ingress.bytes + egress.bytes };
    }

    /// <summary>Sums the per-CPU values of both maps.</summary>
    public static StatsReading ReadStats(string iface, BpfMap stats, BpfMap histogram)
    {
        var clock = new ReadClock(MonotonicClock.NowNs(), MonotonicClock.RealtimeOffsetNs());
        var cpus = Libbpf.PossibleCpus;
        var counters = new ps_counter[Conntrack.HookMax * (int)StatId.Max];
        var perCpu = new ps_counter[cpus];
        for (var hook = 0; hook < Conntrack.HookMax; hook++)
            for (var stat = 0; stat < (int)StatId.Max; stat++)
                counters[hook * (int)StatId.Max + stat] = ReadCounter(stats, hook, (StatId)stat, perCpu);

        var hist = new Dictionary<ps_icmp_hist_key, ps_counter>();
        var keys = new ps_icmp_hist_key[256];
        var values = new ps_counter[256 * cpus];
        var reader = histogram.OpenBatchRead<ps_icmp_hist_key, ps_counter>();
        int n;
        while ((n = reader.Next(keys, values)) > 0)
        {
            for (var k = 0; k < n; k++)
            {
                // A key can come twice when the map changes under a batch read: add, not replace.
                hist.TryGetValue(keys[k], out var sum);
                var add = Sum(values.AsSpan(k * cpus, cpus));
                hist[keys[k]] = new ps_counter { packets = sum.packets + add.packets, bytes = sum.bytes + add.bytes };
            }
        }
        return new StatsReading(iface, clock, counters, hist.ToArray());
    }
}
