// filters: (1) frames per second a veth receiver processes with the tracker attached and 0, 100,
// 1,000 or 10,000 filter rules loaded (a /32 blocklist that misses the traffic, the same blocklist
// with its last rule matching as monitor, a mixed set constraining three fields), as ratios to the
// zero-rule rate of the same invocation, interleaved rounds; plus the kernel's own per-run time of
// ps_xdp_ingress (BPF_PROG_RUN) per config. (2) The time to apply one change to a 10,000-rule set:
// compile, build, kernel write.
using System.Diagnostics;
using System.Net;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Interfaces;
using PacketScope.Bench.Harness;
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Native.Shared;
using PacketScope.Testing;

namespace PacketScope.Bench;

internal static class FilterRateBench
{
    // The traffic, as in packet-rate: 10.213.0.1:<basePort + flow> -> 10.213.0.2:9, UDP.
    private static readonly IPAddress TrafficSrc = IPAddress.Parse("10.213.0.1");
    private static readonly IPAddress TrafficDst = IPAddress.Parse("10.213.0.2");
    private const int TrafficDport = 9;
    private const int BasePort = 10_000;
    private static readonly DateTimeOffset Epoch = DateTimeOffset.UnixEpoch;

    private enum Shape
    {
        None,
        /// <summary>(a) N drop rules on /32 sources, none of them the traffic's.</summary>
        BlocklistMiss,
        /// <summary>(b) the same, but the last (lowest-priority) rule is a monitor rule on the traffic's source.</summary>
        BlocklistLast,
        /// <summary>(c) protocol + src /24 + dst port range on every rule; the traffic matches two of the three fields of each.</summary>
        Mixed,
    }

    private sealed record Config(Shape Shape, int Count, FilterImage Image, uint? MatchId)
    {
        public string Name => Shape switch
        {
            Shape.None => "0 rules",
            Shape.BlocklistMiss => $"{Fmt.N(Count)} blocklist, miss",
            Shape.BlocklistLast => $"{Fmt.N(Count)} blocklist, last matches",
            _ => $"{Fmt.N(Count)} mixed, miss",
        };
    }

    private sealed record RunResult(PacketRateBench.Result Rate, ulong Hits, ulong Monitored, ulong Dropped);

    public static void Run(Options options)
    {
        string[] parts = ["rate", "apply", "burst", "drop"];
        if (options.Runs("rate", parts))
            RunRate(options);
        if (options.Runs("apply", parts))
            RunApply(options);
        if (options.Runs("burst", parts))
            FilterBurstBench.Run(options);
        if (options.Runs("drop", parts))
            DropRateBench.Run(options);
    }

    // ---------------------------------------------------------------- rules

    internal static FilterRule Rule(int id, int priority, FilterRuleSpec spec) => new(id, priority, spec, Epoch, Epoch);

    internal static FilterRuleSpec Spec(FilterRuleType type, byte protocol, AddressMatch? src, PortRange? dport, FilterAction action, string comment) =>
        new(type, protocol, src, null, null, dport, 0, 0, null, null, null, null, null, null, null, action, true, comment, null, null);

    internal static AddressMatch V4(uint address, int length)
    {
        var masked = length == 0 ? 0 : address & (uint.MaxValue << (32 - length));
        return new AddressMatch(new IPAddress([(byte)(masked >> 24), (byte)(masked >> 16), (byte)(masked >> 8), (byte)masked]).ToString(), length, false);
    }

    private static uint U32(IPAddress a)
    {
        var b = a.GetAddressBytes();
        return (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
    }

    /// <summary>Blocklist entry i: 198.18.0.0/15 (benchmarking addresses), never the traffic's source.</summary>
    internal static FilterRule BlocklistRule(int id, int priority, int i) =>
        Rule(id, priority, Spec(FilterRuleType.Basic, 0, V4(0xC6120000u + (uint)i, 32), null, FilterAction.Drop, $"blocklist {i}"));

    /// <summary>
    /// N drop rules on distinct source /32s. With <paramref name="lastMatches"/>, the last one (the lowest
    /// priority) is a monitor rule on the traffic's source, so the traffic passes and is tracked as before.
    /// </summary>
    private static List<FilterRule> Blocklist(int n, bool lastMatches)
    {
        var rules = new List<FilterRule>(n);
        for (var i = 0; i < n; i++)
            rules.Add(lastMatches && i == n - 1
                ? Rule(i + 1, i, Spec(FilterRuleType.Basic, 0, V4(U32(TrafficSrc), 32), null, FilterAction.Monitor, "the traffic"))
                : BlocklistRule(i + 1, i, i));
        return rules;
    }

    /// <summary>
    /// Mixed rule i constrains protocol (TCP or UDP), source /24 and destination port range. k = i % 3 picks
    /// which of the three the traffic (UDP from 10.213.0.1 to port 9) fails: k = 0 another /24 (172.16.0.0/12),
    /// k = 1 TCP, k = 2 a port range above 9. So every field's vector holds two thirds of the rules spread over
    /// every word, the first two ANDs leave a third, and only the last field empties the intersection:
    /// the most words the classifier can be made to AND with three fields.
    /// </summary>
    private static FilterRule MixedRule(int id, int priority, int i)
    {
        var k = i % 3;
        var j = i / 3;
        var src = k == 0 ? V4(0xAC100000u + (uint)(j % 4096 << 8), 24) : V4(U32(TrafficSrc), 24);
        var udp = k != 1;
        var dport = k == 2
            ? new PortRange(10 + i * 37 % 60_000, 10 + i * 37 % 60_000 + i % 100)
            : new PortRange(i % 10, TrafficDport + i * 53 % 5_000);
        return Rule(id, priority, Spec(udp ? FilterRuleType.Udp : FilterRuleType.Tcp, udp ? (byte)17 : (byte)6, src, dport, FilterAction.Drop,
            $"mixed {i}"));
    }

    private static List<FilterRule> Mixed(int n) => Enumerable.Range(0, n).Select(i => MixedRule(i + 1, i, i)).ToList();

    private static List<FilterRule> Rules(Shape shape, int n) => shape switch
    {
        Shape.None => [],
        Shape.BlocklistMiss => Blocklist(n, lastMatches: false),
        Shape.BlocklistLast => Blocklist(n, lastMatches: true),
        _ => Mixed(n),
    };

    private static PacketFields TrafficPacket(int flow) =>
        new(17, TrafficSrc, TrafficDst, (ushort)(BasePort + flow), TrafficDport, 0, 0, 0);

    private static Config Build(Shape shape, int n, int flows)
    {
        var rules = Rules(shape, n);
        var set = RuleSetCompiler.Compile(rules);
        // The C# reference classifier agrees with what the config is meant to be, for the first and last flow.
        foreach (var flow in new[] { 0, flows - 1 })
        {
            var match = set.Match(TrafficPacket(flow));
            var expected = shape == Shape.BlocklistLast ? rules[^1].Id : (int?)null;
            if (match?.Id != expected)
                throw new InvalidOperationException($"{shape} {n}: the traffic matches rule {match?.Id.ToString() ?? "none"}, expected {expected?.ToString() ?? "none"}");
        }
        var image = KernelRuleSet.Build(set, version: 1);
        if (FilterTables.CheckFits(image) is { } tooBig)
            throw new InvalidOperationException($"{shape} {n}: {tooBig}");
        return new Config(shape, n, image, shape == Shape.BlocklistLast ? (uint)rules[^1].Id : null);
    }

    // ---------------------------------------------------------------- (1) packet rate

    private static void RunRate(Options options)
    {
        var frames = options.Int("frames", 5_000_000);
        var flows = options.Int("flows", 1024);
        var rounds = options.Int("rounds", 5);
        var target = options.Double("target", 0.9);
        var progRuns = options.Int("prog-runs", 1_000_000);
        var counts = options.String("counts", "100,1000,10000").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(c => int.Parse(c.Replace("_", ""), System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var mixed = options.Int("mixed", 10_000);
        if (flows < 1 || BasePort + flows > 65_536)
            throw new ArgumentException($"--flows: {flows} is not between 1 and {65_536 - BasePort}");

        var build = Stopwatch.StartNew();
        var configs = new List<Config> { new(Shape.None, 0, FilterImage.Empty(1), null) };
        configs.AddRange(counts.Select(n => Build(Shape.BlocklistMiss, n, flows)));
        configs.AddRange(counts.Select(n => Build(Shape.BlocklistLast, n, flows)));
        if (mixed > 0)
            configs.Add(Build(Shape.Mixed, mixed, flows));
        Console.Error.WriteLine($"filters: {configs.Count} rule sets compiled and built in {Fmt.Ms(build.Elapsed)}");

        Shell.EnsureTool("ethtool", "ethtool");
        using var tx = BpfObject.Open(Paths.BpfObject("bench_flows.bpf.o"));
        tx.Load();
        var sender = tx.Program("psb_xdp_tx_flows");
        tx.Map("psb_flows").Update(0u, new PacketRateBench.psb_flows { flows = (uint)flows, base_port = BasePort });
        using var tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath);

        using var veth = Veth.Create();
        Shell.Run("ethtool", "-K", veth.Receiver, "gro", "on"); // as in packet-rate: the same path after XDP
        var frame = Frames.Udp4(TrafficSrc, BasePort, TrafficDst, TrafficDport, payload: 64 - 42);

        Console.Error.WriteLine($"filters: {veth.Sender} -> {veth.Receiver}, {Fmt.N(frames)} frames/run over {flows} flows, {rounds} rounds of {configs.Count} configs");
        var results = configs.ToDictionary(c => c, _ => new List<RunResult>());
        var stats = tracker.Stats;

        RunResult Measure(Config config, int count)
        {
            tracker.Filters.Apply(config.Image);
            uint[] ids = config.MatchId is { } id ? [id] : [];
            ulong Hits() => config.MatchId is { } m ? tracker.Filters.ReadHits(ids).GetValueOrDefault(m).Packets : 0;
            var hits0 = Hits();
            var mon0 = StatsStreamActor.ReadCounter(stats, Conntrack.HookIngress, StatId.Monitor).packets;
            var drop0 = StatsStreamActor.ReadCounter(stats, Conntrack.HookIngress, StatId.Drop).packets;
            var rate = PacketRateBench.Measure(veth, sender, frame, count);
            return new RunResult(rate, Hits() - hits0,
                StatsStreamActor.ReadCounter(stats, Conntrack.HookIngress, StatId.Monitor).packets - mon0,
                StatsStreamActor.ReadCounter(stats, Conntrack.HookIngress, StatId.Drop).packets - drop0);
        }

        // The tracker stays attached for every run; only its rule set changes between runs (an Apply,
        // outside the timed part). The links are dropped on every exit path: the using here (normal exit
        // and exceptions), the same cleanup entry on a signal, and the kernel when the process dies.
        using (Cleanup.Register($"detach the tracker from {veth.Receiver}", tracker.Detach))
        {
            tracker.Attach(veth.Receiver, veth.ReceiverIndex, XdpMode.Native);
            foreach (var config in configs)
                Measure(config, frames / 10); // warm-up: page pools, flow entries, each rule set's maps

            for (var round = 1; round <= rounds; round++)
            {
                // Rotate the order each round so no config always runs first or last.
                var order = configs.Select((_, i) => configs[(i + round - 1) % configs.Count]).ToArray();
                foreach (var config in order)
                {
                    var run = Measure(config, frames);
                    results[config].Add(run);
                    Console.Error.WriteLine($"  round {round} {config.Name,-30} {Fmt.F(run.Rate.Mpps, 3)} Mpps ({Fmt.N((long)run.Rate.Processed)} processed, " +
                        $"{Fmt.N((long)run.Rate.Dropped)} dropped at veth, {Fmt.N((long)run.Hits)} rule hits, {Fmt.Ms(run.Rate.Elapsed)})");
                }
            }
        }
        var trackedFlows = PacketRateBench.CountFlows(tracker.Flows);

        // The kernel's own time per run of ps_xdp_ingress on one frame of the same traffic, no veth:
        // BPF_PROG_RUN with repeat, per config, three times each (interleaved), median.
        // Once with the flow's verdict cached (every packet after a flow's first), once classifying every packet
        // (a flow's first packet, or every packet of a rule set that looks at per-packet fields).
        var perRun = configs.ToDictionary(c => c, _ => new List<double>());
        var perRunFirst = configs.ToDictionary(c => c, _ => new List<double>());
        if (progRuns > 0)
            for (var rep = 0; rep < 3; rep++)
                foreach (var config in configs)
                {
                    tracker.Filters.Apply(config.Image);
                    perRun[config].Add(ProgRunNs(tracker.IngressProgram, frame, progRuns));
                    tracker.Filters.CacheVerdicts = false;
                    tracker.Filters.Apply(config.Image);
                    perRunFirst[config].Add(ProgRunNs(tracker.IngressProgram, frame, progRuns));
                    tracker.Filters.CacheVerdicts = true;
                }

        var median = configs.ToDictionary(c => c, c => Fmt.Median(results[c].Select(r => r.Rate.Mpps)));
        var runNs = configs.ToDictionary(c => c, c => Fmt.Median(perRun[c]));
        var firstNs = configs.ToDictionary(c => c, c => Fmt.Median(perRunFirst[c]));
        var zero = configs[0];
        var table = new Table("rules loaded", "Mpps per round", "median Mpps", "ns/frame", "vs 0 rules", "ns more/frame",
            "prog-run ns", "prog-run +ns", "uncached +ns", "dropped at veth", "hits/frame");
        foreach (var c in configs)
        {
            var m = median[c];
            var processed = results[c].Sum(r => (double)r.Rate.Processed);
            table.Row(c.Name,
                string.Join(" / ", results[c].Select(r => Fmt.F(r.Rate.Mpps, 3))),
                Fmt.F(m, 3),
                Fmt.F(1000 / m, 0),
                Fmt.Ratio(m / median[zero]),
                c == zero ? "" : Fmt.F(1000 / m - 1000 / median[zero], 0),
                progRuns > 0 ? Fmt.F(runNs[c], 0) : "",
                progRuns > 0 && c != zero ? Fmt.F(runNs[c] - runNs[zero], 0) : "",
                progRuns > 0 && c != zero ? Fmt.F(firstNs[c] - firstNs[zero], 0) : "",
                Fmt.N((long)results[c].Sum(r => (double)r.Rate.Dropped)),
                c.MatchId is null ? "0" : Fmt.F(results[c].Sum(r => (double)r.Hits) / processed, 3));
        }

        // Every frame must have passed the rules: nothing dropped by a rule, and in (b) each frame counted once.
        var ruleDrops = results.Values.SelectMany(r => r).Sum(r => (double)r.Dropped);
        var wrongMonitor = configs.Where(c => results[c].Any(r => c.MatchId is null ? r.Monitored != 0 : r.Monitored != r.Hits)).ToList();

        Console.WriteLine();
        Console.WriteLine($"## filters: packet rate, {Fmt.N(frames)} x 64-byte UDP/IPv4 frames per run over {flows} flows, veth, tracker attached, {rounds} rounds interleaved, median");
        Console.WriteLine();
        Console.Write(table);
        Console.WriteLine();
        Console.WriteLine($"prog-run: ps_xdp_ingress through BPF_PROG_RUN ({Fmt.N(progRuns)} repeats on one frame of the same traffic, median of 3, the kernel's own ns per run); " +
            "\"uncached\": every packet classified, as a flow's first packet is (the flow verdict cache off). " +
            $"Flows in the tracker's map after the runs: {Fmt.N(trackedFlows)} (expected {flows}). " +
            $"Frames dropped by a rule: {Fmt.N((long)ruleDrops)} (expected 0){(wrongMonitor.Count == 0 ? "; the monitor counter matched the rule hits in every run" : $"; MONITOR COUNT MISMATCH in {string.Join(", ", wrongMonitor.Select(c => c.Name))}")}.");
        var verdicts = configs.Where(c => c.Count == configs.Max(x => x.Count) && c != zero)
            .Select(c => $"{c.Name}: {Fmt.F(median[c] / median[zero] * 100, 1)}%").ToList();
        var worst = configs.Where(c => c.Count == configs.Max(x => x.Count) && c != zero).Select(c => median[c] / median[zero]).DefaultIfEmpty(1).Min();
        Console.WriteLine($"Verdict: with {Fmt.N(configs.Max(c => c.Count))} rules the tracker keeps this much of its zero-rule rate: {string.Join("; ", verdicts)}. " +
            $"Target >= {Fmt.F(target * 100, 0)}% in every shape: {(worst >= target ? "MET" : "MISSED")}.");
    }

    /// <summary>BPF_PROG_RUN of <paramref name="program"/> on <paramref name="frame"/>, repeated; the kernel's mean ns per run.</summary>
    private static double ProgRunNs(BpfProgram program, byte[] frame, int repeat) =>
        ProgramTestRun.RunXdpTimed(program, frame, repeat).DurationNs;

    // ---------------------------------------------------------------- (2) apply time

    private readonly record struct ApplyTimes(TimeSpan Compile, TimeSpan Build, TimeSpan Write)
    {
        public TimeSpan Total => Compile + Build + Write;
    }

    private static ApplyTimes Apply(ConntrackProgram tracker, IReadOnlyList<FilterRule> rules, ref long version)
    {
        var t0 = Stopwatch.GetTimestamp();
        var set = RuleSetCompiler.Compile(rules);
        var t1 = Stopwatch.GetTimestamp();
        var image = KernelRuleSet.Build(set, ++version);
        var t2 = Stopwatch.GetTimestamp();
        tracker.Filters.Apply(image);
        var t3 = Stopwatch.GetTimestamp();
        return new ApplyTimes(Stopwatch.GetElapsedTime(t0, t1), Stopwatch.GetElapsedTime(t1, t2), Stopwatch.GetElapsedTime(t2, t3));
    }

    private static void RunApply(Options options)
    {
        var n = options.Int("apply-rules", 10_000);
        var reps = options.Int("reps", 20);
        var coldRuns = options.Int("cold-runs", 3);
        var rows = new List<(string Set, string Change, List<ApplyTimes> Times, string Note)>();
        Console.Error.WriteLine($"filters: apply times, {Fmt.N(n)}-rule sets, {reps} repetitions per change, {coldRuns} cold applies per set");

        foreach (var shape in new[] { Shape.BlocklistMiss, Shape.Mixed })
        {
            var setName = shape == Shape.Mixed ? $"{Fmt.N(n)} mixed" : $"{Fmt.N(n)} blocklist";
            var baseRules = Rules(shape, n);
            var sizes = KernelRuleSet.Build(RuleSetCompiler.Compile(baseRules), 0);
            var note = $"{Fmt.N(sizes.Vectors.Count)} vectors ({Fmt.Mb(sizes.Vectors.Count * (double)(8 + 8 * FilterShared.Words) / 1048576)}), {Fmt.N(sizes.Addresses.Count)} prefixes";

            // Cold: a freshly loaded tracker (empty tables), the first apply of the whole set; then the
            // first change after it, which fills the other generation, still empty.
            var cold = new List<ApplyTimes>();
            var second = new List<ApplyTimes>();
            ConntrackProgram? tracker = null;
            try
            {
                long version = 0;
                for (var c = 0; c < coldRuns; c++)
                {
                    tracker?.Dispose();
                    tracker = null;
                    tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: 65_536, maxIcmp: 4_096);
                    cold.Add(Apply(tracker, baseRules, ref version));
                    var changed = new List<FilterRule>(baseRules) { AddedRule(shape, n, 1_000 + c) };
                    second.Add(Apply(tracker, changed, ref version));
                }
                rows.Add((setName, "cold: first apply, fresh tracker", cold, note));
                rows.Add((setName, "cold: add 1, fills the other generation", second, ""));

                // Warm-up, untimed: the JIT tiers the compiler's and the writer's loops up over a few applies.
                for (var w = 0; w < 5; w++)
                    Apply(tracker!, baseRules, ref version);

                foreach (var change in new[] { "add 1 (lowest priority)", "remove 1 (middle)", "toggle 1 (middle)" })
                {
                    // Both generations hold the base set, as after any two applies: each change then writes
                    // what differs from the set of two applies ago.
                    var rules = new List<FilterRule>(baseRules);
                    Apply(tracker!, rules, ref version);
                    Apply(tracker!, rules, ref version);
                    var times = new List<ApplyTimes>();
                    for (var r = 0; r < reps; r++)
                    {
                        switch (change[0])
                        {
                            case 'a': // cumulative: n + 1, n + 2, ...
                                rules.Add(AddedRule(shape, n, r));
                                break;
                            case 'r': // cumulative: n - 1, n - 2, ...
                                rules.RemoveAt(rules.Count / 2);
                                break;
                            default: // rule n/2 + r/2: off on even reps, back on on odd ones
                                var i = n / 2 + r / 2;
                                rules[i] = rules[i] with { Spec = rules[i].Spec with { Enabled = !rules[i].Spec.Enabled } };
                                break;
                        }
                        times.Add(Apply(tracker!, rules, ref version));
                    }
                    rows.Add((setName, change, times, ""));
                    Console.Error.WriteLine($"  {setName}, {change}: total p50 {Ms(P50(times, t => t.Total))}, max {Ms(Max(times, t => t.Total))}");
                }
            }
            finally
            {
                tracker?.Dispose();
            }
        }

        var coldTotal = rows.Where(r => r.Change.StartsWith("cold: first", StringComparison.Ordinal))
            .ToDictionary(r => r.Set, r => P50(r.Times, t => t.Total));
        var table = new Table("rule set", "change", "compile p50 (max)", "build p50 (max)", "kernel write p50 (max)", "total p50 (max)", "vs cold apply", "image");
        foreach (var (set, change, times, note) in rows)
            table.Row(set, change,
                Cell(times, t => t.Compile), Cell(times, t => t.Build), Cell(times, t => t.Write), Cell(times, t => t.Total),
                Fmt.Ratio(P50(times, t => t.Total) / coldTotal[set]),
                note);

        Console.WriteLine();
        Console.WriteLine($"## filters: time to apply a change to a {Fmt.N(n)}-rule set, {reps} repetitions per change ({coldRuns} for cold), p50 (max), {Paths.GcMode}");
        Console.WriteLine();
        Console.Write(table);
        Console.WriteLine();
        Console.WriteLine("compile: RuleSetCompiler.Compile; build: KernelRuleSet.Build; kernel write: FilterTables.Apply (fills the inactive generation, flips). " +
            "Changes are cumulative within a row; both generations hold the base set before each row.");
        var worst = rows.Where(r => !r.Change.StartsWith("cold", StringComparison.Ordinal)).Max(r => P50(r.Times, t => t.Total));
        Console.WriteLine($"Verdict: one change to a {Fmt.N(n)}-rule set is in the kernel {Ms(worst)} after it is asked for (worst p50 over sets and changes). No target was set.");
    }

    /// <summary>A rule not in the base set, at the lowest priority: a /32 on 198.19.0.0/16, or a mixed rule like the others.</summary>
    private static FilterRule AddedRule(Shape shape, int n, int r) => shape == Shape.Mixed
        ? MixedRule(1_000_000 + r, n + r, n + r)
        : Rule(1_000_000 + r, n + r, Spec(FilterRuleType.Basic, 0, V4(0xC6130000u + (uint)r, 32), null, FilterAction.Drop, $"added {r}"));

    private static double P50(List<ApplyTimes> times, Func<ApplyTimes, TimeSpan> part) => Fmt.Median(times.Select(t => part(t).TotalMilliseconds));

    private static double Max(List<ApplyTimes> times, Func<ApplyTimes, TimeSpan> part) => times.Max(t => part(t).TotalMilliseconds);

    private static string Ms(double ms) => ms < 10 ? Fmt.F(ms, 1) + " ms" : Fmt.F(ms, 0) + " ms";

    private static string Cell(List<ApplyTimes> times, Func<ApplyTimes, TimeSpan> part) =>
        times.Count == 1 ? Ms(P50(times, part)) : $"{Ms(P50(times, part))} ({Ms(Max(times, part))})";
}
