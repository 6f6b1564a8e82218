// packet-rate: frames per second a veth receiver processes with (a) no XDP program, (b) a bare
// XDP_PASS program and (c) the tracker (ps_xdp_ingress + tcx egress) attached, interleaved rounds.
using System.Diagnostics;
using System.Net;
using PacketScope.Bench.Harness;
using PacketScope.Native;
using PacketScope.Testing;

namespace PacketScope.Bench;

internal static class PacketRateBench
{
    private enum Config
    {
        None,
        XdpPass,
        Tracker,
    }

    internal readonly record struct Result(double Mpps, ulong Processed, ulong Dropped, TimeSpan Elapsed);

    public static void Run(Options options)
    {
        var frames = options.Int("frames", 10_000_000);
        var flows = options.Int("flows", 1024);
        var rounds = options.Int("rounds", 3);
        var target = options.Double("target", 0.8);
        const int basePort = 10_000;
        if (flows < 1 || basePort + flows > 65_536)
            throw new ArgumentException($"--flows: {flows} is not between 1 and {65_536 - basePort} (one UDP source port each)");
        var total = (long)frames;

        Shell.EnsureTool("ethtool", "ethtool");
        using var tx = BpfObject.Open(Paths.BpfObject("bench_flows.bpf.o"));
        tx.Load();
        var sender = tx.Program("psb_xdp_tx_flows");
        tx.Map("psb_flows").Update(0u, new psb_flows { flows = (uint)flows, base_port = basePort });
        using var pass = BpfObject.Open(Paths.BpfObject("test_xdp_pass.bpf.o"));
        pass.Load();
        var passProgram = pass.Program("ps_xdp_pass");
        using var tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath);

        using var veth = Veth.Create();
        // Without an XDP program a veth takes ndo_xdp_xmit frames only through NAPI, which GRO
        // enables; it stays on in every config so the path after XDP is the same.
        Shell.Run("ethtool", "-K", veth.Receiver, "gro", "on");

        // The sender rewrites the source port of each frame: basePort .. basePort + flows - 1.
        var frame = Frames.Udp4(IPAddress.Parse("10.213.0.1"), basePort, IPAddress.Parse("10.213.0.2"), 9, payload: 64 - 42); // a 64-byte frame

        Console.Error.WriteLine($"packet-rate: {veth.Sender} -> {veth.Receiver}, {Fmt.N(total)} frames/run over {flows} flows, {rounds} rounds");
        var results = Enum.GetValues<Config>().ToDictionary(c => c, _ => new List<Result>());

        IDisposable Attach(Config config) => config switch
        {
            Config.XdpPass => passProgram.AttachXdp(veth.Receiver, veth.ReceiverIndex, XdpMode.Native),
            Config.Tracker => AttachTracker(tracker, veth),
            _ => new Nothing(),
        };

        // Warm-up: one short run per config (page pools, the tracker's flow entries, caches).
        foreach (var config in Enum.GetValues<Config>())
        {
            using var _ = Attach(config);
            Measure(veth, sender, frame, frames / 10);
        }

        for (var round = 1; round <= rounds; round++)
        {
            // Rotate the order each round so no config always runs first or last.
            var order = Enum.GetValues<Config>().Select((_, i) => (Config)((i + round - 1) % 3)).ToArray();
            foreach (var config in order)
            {
                Result run;
                using (Attach(config))
                    run = Measure(veth, sender, frame, frames);
                results[config].Add(run);
                Console.Error.WriteLine($"  round {round} {Name(config),-9} {Fmt.F(run.Mpps, 3)} Mpps ({Fmt.N((long)run.Processed)} processed, {Fmt.N((long)run.Dropped)} dropped, {Fmt.Ms(run.Elapsed)})");
            }
        }
        var trackedFlows = CountFlows(tracker.Flows);

        var median = results.ToDictionary(r => r.Key, r => Fmt.Median(r.Value.Select(v => v.Mpps)));
        var table = new Table("config", "Mpps per round", "median Mpps", "ns/frame", "dropped at veth", "vs none", "vs xdp_pass");
        foreach (var config in Enum.GetValues<Config>())
        {
            var m = median[config];
            table.Row(Name(config),
                string.Join(" / ", results[config].Select(r => Fmt.F(r.Mpps, 3))),
                Fmt.F(m, 3),
                Fmt.F(1000 / m, 0),
                Fmt.N((long)results[config].Sum(r => (double)r.Dropped)),
                Fmt.Ratio(m / median[Config.None]),
                Fmt.Ratio(m / median[Config.XdpPass]));
        }

        var ratio = median[Config.Tracker] / median[Config.XdpPass];
        var cost = 1000 / median[Config.Tracker] - 1000 / median[Config.XdpPass];
        Console.WriteLine();
        Console.WriteLine($"## packet-rate: {Fmt.N(total)} x 64-byte UDP/IPv4 frames per run over {flows} flows, veth, {rounds} rounds interleaved, median");
        Console.WriteLine();
        Console.Write(table);
        Console.WriteLine();
        Console.WriteLine($"Flows in the tracker's map after the runs: {Fmt.N(trackedFlows)} (expected {flows}). Frames go to the stack and are dropped there as PACKET_OTHERHOST in every config.");
        Console.WriteLine($"Verdict: the tracker keeps {Fmt.F(ratio * 100, 1)}% of the XDP_PASS rate ({Fmt.F(cost, 0)} ns more per frame); " +
            $"target >= {Fmt.F(target * 100, 0)}%: {(ratio >= target ? "MET" : "MISSED")}.");
    }

    private static string Name(Config config) => config switch
    {
        Config.None => "none",
        Config.XdpPass => "xdp_pass",
        _ => "tracker",
    };

    private static IDisposable AttachTracker(ConntrackProgram tracker, Veth veth)
    {
        tracker.Attach(veth.Receiver, veth.ReceiverIndex, XdpMode.Native);
        return new Detach(tracker);
    }

    /// <summary>
    /// Sends <paramref name="count"/> frames in one live-frames call (batches of 64) and counts what
    /// the receiver processed (rx_packets; the veth ring drops what it cannot take into rx_dropped).
    /// The run ends when the counter settles; the call's fixed cost (~20 ms here) is included.
    /// </summary>
    internal static Result Measure(Veth veth, BpfProgram sender, byte[] frame, int count)
    {
        var ifindex = veth.SenderIndex;
        var rx0 = veth.ReceiverStat("rx_packets");
        var drop0 = veth.ReceiverStat("rx_dropped");
        var start = Stopwatch.GetTimestamp();
        ProgramTestRun.SendLiveFrames(sender, ifindex, frame, count, 64);
        var sent = Stopwatch.GetTimestamp();
        // NAPI may still drain the ring on the other CPU: wait until rx_packets stops moving.
        var rx = veth.ReceiverStat("rx_packets");
        var lastChange = sent;
        while (Stopwatch.GetElapsedTime(lastChange) < TimeSpan.FromMilliseconds(50))
        {
            Thread.Sleep(1);
            var now = veth.ReceiverStat("rx_packets");
            if (now != rx)
            {
                rx = now;
                lastChange = Stopwatch.GetTimestamp();
            }
        }
        var elapsed = Stopwatch.GetElapsedTime(start, lastChange);
        var processed = rx - rx0;
        return new Result(processed / elapsed.TotalSeconds / 1e6, processed, veth.ReceiverStat("rx_dropped") - drop0, elapsed);
    }

    internal static long CountFlows(BpfMap flows)
    {
        var reader = flows.OpenBatchRead<Native.Shared.ps_flow_key, Native.Shared.ps_flow_value>();
        var keys = new Native.Shared.ps_flow_key[4096];
        var values = new Native.Shared.ps_flow_value[4096];
        long count = 0;
        int n;
        while ((n = reader.Next(keys, values)) > 0)
            count += n;
        return count;
    }

    /// <summary>struct psb_flows in bpf/bench_flows.bpf.c (the program writes next).</summary>
#pragma warning disable CS0649
    internal struct psb_flows
    {
        public uint flows;
        public uint base_port;
        public uint next;
        public uint rand_bits;
    }
#pragma warning restore CS0649

    private sealed class Nothing : IDisposable
    {
        public void Dispose() { }
    }

    private sealed class Detach(ConntrackProgram tracker) : IDisposable
    {
        public void Dispose() => tracker.Detach();
    }
}
