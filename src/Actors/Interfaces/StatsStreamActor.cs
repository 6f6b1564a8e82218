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

    /// <summary>One stats counter summed over CPUs and both hooks.</summary>
    public static ps_counter ReadCounter(BpfMap stats, StatId stat)
    {
        var perCpu = new ps_counter[Libbpf.PossibleCpus];
        var sum = new ps_counter();
        for (var hook = 0; hook < Conntrack.HookMax; hook++)
        {
            if (!stats.TryLookupPerCpu((uint)(hook * (int)StatId.Max + (int)stat), perCpu))
                continue;
            foreach (var c in perCpu)
            {
                sum.packets += c.packets;
                sum.bytes += c.bytes;
            }
        }
        return sum;
    }

    /// <summary>Sums the per-CPU values of both maps.</summary>
    public static StatsReading ReadStats(string iface, BpfMap stats, BpfMap histogram)
    {
        var clock = new ReadClock(MonotonicClock.NowNs(), MonotonicClock.RealtimeOffsetNs());
        var cpus = Libbpf.PossibleCpus;
        var counters = new ps_counter[Conntrack.HookMax * (int)StatId.Max];
        var perCpu = new ps_counter[cpus];
        for (uint i = 0; i < counters.Length; i++)
        {
            if (!stats.TryLookupPerCpu(i, perCpu))
                continue;
            foreach (var c in perCpu)
            {
                counters[i].packets += c.packets;
                counters[i].bytes += c.bytes;
            }
        }

        var hist = new Dictionary<ps_icmp_hist_key, ps_counter>();
        var keys = new ps_icmp_hist_key[256];
        var values = new ps_counter[256 * cpus];
        var reader = histogram.OpenBatchRead<ps_icmp_hist_key, ps_counter>();
        int n;
        while ((n = reader.Next(keys, values)) > 0)
        {
            for (var k = 0; k < n; k++)
            {
                hist.TryGetValue(keys[k], out var sum);
                for (var c = 0; c < cpus; c++)
                {
                    sum.packets += values[k * cpus + c].packets;
                    sum.bytes += values[k * cpus + c].bytes;
                }
                hist[keys[k]] = sum;
            }
        }
        return new StatsReading(iface, clock, counters, hist.ToArray());
    }
}
