// filters --part drop: the drop rate under attack, side by side in one run. Frames a veth receiver
// processes per second while every frame is dropped: by a bare XDP_DROP program (the baseline), by the
// Guarder (the tracker attached on XDP and tcx, tracking on) with one drop rule and with 10,000 rules, and
// by nftables (netdev ingress on the same device) with the same rules; one repeated flow and a new random
// source in every frame; interleaved rounds, medians, ratios against XDP_DROP.
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Interfaces;
using PacketScope.Bench.Harness;
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Native.Shared;
using PacketScope.Testing;

namespace PacketScope.Bench;

internal static partial class DropRateBench
{
    // The attack: UDP from 10.0.0.0/8 (one source, or a random one per frame) to 10.213.0.2:9.
    private static readonly IPAddress TrafficSrc = IPAddress.Parse("10.213.0.1");
    private static readonly IPAddress TrafficDst = IPAddress.Parse("10.213.0.2");
    private const int RandomBits = 24; // the low 24 bits of the source: anywhere in 10.0.0.0/8
    private const int Blocklist = 9_999;

    private enum Receiver
    {
        XdpDrop,
        GuardOne,
        GuardMany,
        /// <summary>The same 10,000 rules with FilterTables.EarlyDrops off: each drop after a flow-table lookup, as before the fast path.</summary>
        GuardManyLate,
        NftOne,
        NftInterval,
        NftHash,
    }

    private enum Traffic
    {
        OneFlow,
        RandomSource,
    }

    private sealed record Sample(double Mpps, ulong Processed, ulong Counted, ulong RuleDrops);

    private static string Name(Receiver r) => r switch
    {
        Receiver.XdpDrop => "bare XDP_DROP",
        Receiver.GuardOne => "Guarder, 1 drop rule (src 10.0.0.0/8)",
        Receiver.GuardMany => $"Guarder, {Fmt.N(Blocklist + 1)} rules (9,999 /32 + the /8, last)",
        Receiver.GuardManyLate => $"Guarder, {Fmt.N(Blocklist + 1)} rules, drops after the flow lookup",
        Receiver.NftOne => "nftables, 1 rule (ip saddr 10.0.0.0/8)",
        Receiver.NftInterval => $"nftables, {Fmt.N(Blocklist + 1)} in one interval set",
        _ => $"nftables, {Fmt.N(Blocklist + 1)} /32 in a hash set",
    };

    private static string Name(Traffic t) => t == Traffic.OneFlow ? "one flow" : "random source";

    public static void Run(Options options)
    {
        var frames = options.Int("frames", 5_000_000);
        var rounds = options.Int("rounds", 5);
        var target = options.Double("drop-target", 0.7);

        // The Guarder's rule sets: the /8 alone; 9,999 /32 drop rules in 198.18.0.0/15 ahead of the /8 (it wins last).
        var slash8 = FilterRateBench.Rule(Blocklist + 1, Blocklist, FilterRateBench.Spec(FilterRuleType.Basic, 0,
            FilterRateBench.V4(0x0A000000u, 8), null, FilterAction.Drop, "10.0.0.0/8"));
        var many = Enumerable.Range(0, Blocklist).Select(i => FilterRateBench.BlocklistRule(i + 1, i, i)).Append(slash8).ToList();
        var oneImage = KernelRuleSet.Build(RuleSetCompiler.Compile([slash8]), 1);
        var manyImage = KernelRuleSet.Build(RuleSetCompiler.Compile(many), 2);
        var probe = new PacketFields(17, TrafficSrc, TrafficDst, 10_000, 9, 0, 0, 0);
        if (RuleSetCompiler.Compile(many).Match(probe)?.Id != slash8.Id)
            throw new InvalidOperationException("the 10,000-rule set does not drop the traffic by its last rule");

        Shell.EnsureTool("ethtool", "ethtool");
        Shell.EnsureTool("nft", "nftables");
        using var tx = BpfObject.Open(Paths.BpfObject("bench_flows.bpf.o"));
        tx.Load();
        var sender = tx.Program("psb_xdp_tx_flows");
        var senderConfig = tx.Map("psb_flows");
        var dropProgram = tx.Program("psb_xdp_drop");
        using var tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath);

        using var veth = Veth.Create();
        // nftables' netdev ingress needs the frames in the stack: without an XDP program a veth takes
        // ndo_xdp_xmit frames only through NAPI with GRO on. On in every config.
        Shell.Run("ethtool", "-K", veth.Receiver, "gro", "on");
        var frame = Frames.Udp4(TrafficSrc, 10_000, TrafficDst, 9, payload: 64 - 42);
        var table = $"psb{Environment.ProcessId:x}";
        var nftFiles = new Dictionary<Receiver, string>
        {
            [Receiver.NftOne] = NftRuleset(table, veth.Receiver, "ip saddr 10.0.0.0/8 counter drop", null),
            [Receiver.NftInterval] = NftRuleset(table, veth.Receiver, "ip saddr @block counter drop",
                "flags interval; elements = { " + string.Join(", ", Enumerable.Range(0, Blocklist).Select(BlocklistAddress).Append("10.0.0.0/8")) + " }"),
            [Receiver.NftHash] = NftRuleset(table, veth.Receiver, "ip saddr @block counter drop",
                "elements = { " + string.Join(", ", Enumerable.Range(0, Blocklist).Select(BlocklistAddress).Append(TrafficSrc.ToString())) + " }"),
        };
        using var nftCleanup = Cleanup.Register($"delete nftables table netdev {table}", () => Shell.TryRun("nft", "delete", "table", "netdev", table));
        using var fileCleanup = Cleanup.Register("delete the nftables rule files", () =>
        {
            foreach (var f in nftFiles.Values)
                File.Delete(f);
        });

        // --receivers xdp,guard,nft (default all): a subset, for a quicker look.
        var wanted = options.String("receivers", "xdp,guard,nft").Split(',');
        bool Wanted(Receiver r) => wanted.Contains(r switch { Receiver.XdpDrop => "xdp", Receiver.GuardOne or Receiver.GuardMany or Receiver.GuardManyLate => "guard", _ => "nft" });
        var cells = (from r in Enum.GetValues<Receiver>().Where(r => r == Receiver.XdpDrop || Wanted(r))
                     from t in Enum.GetValues<Traffic>()
                     where !(r == Receiver.NftHash && t == Traffic.RandomSource) // a hash set of /32s cannot hold the /8
                     select (r, t)).ToList();
        var results = cells.ToDictionary(c => c, _ => new List<Sample>());
        var stats = tracker.Stats;
        var flowsBefore = PacketRateBench.CountFlows(tracker.Flows);

        Sample Measure(Receiver receiver, Traffic traffic, int count)
        {
            senderConfig.Update(0u, new PacketRateBench.psb_flows { rand_bits = traffic == Traffic.RandomSource ? RandomBits : 0u });
            switch (receiver)
            {
                case Receiver.XdpDrop:
                {
                    using var link = dropProgram.AttachXdp(veth.Receiver, veth.ReceiverIndex, XdpMode.Native);
                    var rate = PacketRateBench.Measure(veth, sender, frame, count);
                    return new Sample(rate.Mpps, rate.Processed, rate.Processed, 0);
                }
                case Receiver.GuardOne or Receiver.GuardMany or Receiver.GuardManyLate:
                {
                    tracker.Filters.EarlyDrops = receiver != Receiver.GuardManyLate;
                    tracker.Filters.Apply(receiver == Receiver.GuardOne ? oneImage : manyImage);
                    tracker.Filters.EarlyDrops = true;
                    uint[] ids = [(uint)slash8.Id];
                    ulong Hits() => tracker.Filters.ReadHits(ids).GetValueOrDefault((uint)slash8.Id).Packets;
                    var hits0 = Hits();
                    var drop0 = StatsStreamActor.ReadCounter(stats, Conntrack.HookIngress, StatId.Drop).packets;
                    tracker.Attach(veth.Receiver, veth.ReceiverIndex, XdpMode.Native);
                    PacketRateBench.Result rate;
                    try
                    {
                        rate = PacketRateBench.Measure(veth, sender, frame, count);
                    }
                    finally
                    {
                        tracker.Detach();
                    }
                    return new Sample(rate.Mpps, rate.Processed, Hits() - hits0,
                        StatsStreamActor.ReadCounter(stats, Conntrack.HookIngress, StatId.Drop).packets - drop0);
                }
                default:
                {
                    Shell.Run("nft", "-f", nftFiles[receiver]);
                    try
                    {
                        var rate = PacketRateBench.Measure(veth, sender, frame, count);
                        return new Sample(rate.Mpps, rate.Processed, NftCounter(table), 0);
                    }
                    finally
                    {
                        Shell.Run("nft", "delete", "table", "netdev", table);
                    }
                }
            }
        }

        Console.Error.WriteLine($"filters drop: {veth.Sender} -> {veth.Receiver}, {Fmt.N(frames)} frames/run, {rounds} rounds of {cells.Count} configs");
        foreach (var (r, t) in cells)
            Measure(r, t, frames / 10); // warm-up: page pools, each config's maps and sets
        for (var round = 1; round <= rounds; round++)
        {
            // Rotate the order each round so no config always runs first or last.
            var order = cells.Select((_, i) => cells[(i + round - 1) % cells.Count]).ToArray();
            foreach (var (r, t) in order)
            {
                var run = Measure(r, t, frames);
                results[(r, t)].Add(run);
                Console.Error.WriteLine($"  round {round} {Name(r),-50} {Name(t),-13} {Fmt.F(run.Mpps, 3)} Mpps ({Fmt.N((long)run.Processed)} processed, {Fmt.N((long)run.Counted)} counted by the rule)");
            }
        }
        var flowsAfter = PacketRateBench.CountFlows(tracker.Flows);

        // The kernel's own ns per run on the one-flow frame (BPF_PROG_RUN, no veth): the programs' cost alone.
        var progRuns = options.Int("prog-runs", 1_000_000);
        double ProgRun(Receiver r)
        {
            if (r == Receiver.XdpDrop)
                return ProgramTestRun.RunXdpTimed(dropProgram, frame, progRuns).DurationNs;
            tracker.Filters.EarlyDrops = r != Receiver.GuardManyLate;
            tracker.Filters.Apply(r == Receiver.GuardOne ? oneImage : manyImage);
            tracker.Filters.EarlyDrops = true;
            return ProgramTestRun.RunXdpTimed(tracker.IngressProgram, frame, progRuns).DurationNs;
        }
        var progNs = new[] { Receiver.XdpDrop, Receiver.GuardOne, Receiver.GuardMany, Receiver.GuardManyLate }
            .ToDictionary(r => r, r => progRuns > 0 ? Fmt.Median(Enumerable.Range(0, 3).Select(_ => ProgRun(r))) : double.NaN);

        var median = results.ToDictionary(r => r.Key, r => Fmt.Median(r.Value.Select(v => v.Mpps)));
        var report = new Table("receiver", "one flow: Mpps per round", "median", "vs XDP_DROP", "random source: Mpps per round", "median", "vs XDP_DROP",
            "counted/frame", "prog-run ns");
        foreach (var r in Enum.GetValues<Receiver>().Where(r => results.Keys.Any(k => k.r == r)))
        {
            var row = new List<string> { Name(r) };
            foreach (var t in Enum.GetValues<Traffic>())
            {
                if (!results.TryGetValue((r, t), out var runs))
                {
                    row.AddRange(["n/a", "", ""]);
                    continue;
                }
                row.Add(string.Join(" / ", runs.Select(x => Fmt.F(x.Mpps, 2))));
                row.Add(Fmt.F(median[(r, t)], 2));
                row.Add(Fmt.Ratio(median[(r, t)] / median[(Receiver.XdpDrop, t)]));
            }
            var all = results.Where(x => x.Key.r == r).SelectMany(x => x.Value).ToList();
            row.Add(r == Receiver.XdpDrop ? "" : Fmt.F(all.Sum(x => (double)x.Counted) / all.Sum(x => (double)x.Processed), 3));
            row.Add(progNs.TryGetValue(r, out var ns) && !double.IsNaN(ns) ? Fmt.F(ns, 0) : "");
            report.Row(row.ToArray());
        }

        var guard = results.Where(x => x.Key.r is Receiver.GuardOne or Receiver.GuardMany or Receiver.GuardManyLate).SelectMany(x => x.Value).ToList();
        var exact = guard.All(x => x.Counted == x.Processed && x.RuleDrops == x.Processed);
        Console.WriteLine();
        Console.WriteLine($"## filters: drop rate, {Fmt.N(frames)} x 64-byte UDP/IPv4 frames per run, veth, every frame dropped, {rounds} rounds interleaved, median");
        Console.WriteLine();
        Console.Write(report);
        Console.WriteLine();
        Console.WriteLine($"Guarder: the tracker attached (XDP ingress + tcx egress), tracking on. nftables: a netdev ingress chain on the receiver, no XDP program. " +
            $"\"counted/frame\": the rule's hit counter (Guarder; nftables' rule counter) per frame processed. " +
            $"The Guarder's hit counter and PS_STAT_DROP equalled the frames processed in every run: {(exact ? "yes" : "NO")}. " +
            $"Flows in the tracker's table before the runs {Fmt.N(flowsBefore)}, after {Fmt.N(flowsAfter)} (dropped frames create none). " +
            "prog-run: BPF_PROG_RUN of the XDP program on the one-flow frame, 1,000,000 repeats, median of 3.");
        var worst = Enum.GetValues<Traffic>().Min(t => median[(Receiver.GuardMany, t)] / median[(Receiver.XdpDrop, t)]);
        Console.WriteLine($"Verdict: the Guarder with {Fmt.N(Blocklist + 1)} rules keeps {string.Join(" and ", Enum.GetValues<Traffic>().Select(t => $"{Fmt.F(median[(Receiver.GuardMany, t)] / median[(Receiver.XdpDrop, t)] * 100, 0)}% ({Name(t)})"))} " +
            $"of the bare XDP_DROP rate; target >= {Fmt.F(target * 100, 0)}% in both: {(worst >= target ? "MET" : "MISSED")}.");
    }

    private static string BlocklistAddress(int i)
    {
        var a = 0xC6120000u + (uint)i; // FilterRateBench.BlocklistRule's addresses
        return $"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}";
    }

    /// <summary>An nftables file: a netdev table with an ingress chain on <paramref name="device"/> holding one rule, and the set it names.</summary>
    private static string NftRuleset(string table, string device, string rule, string? set)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"table netdev {table} {{");
        if (set is not null)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  set block {{ type ipv4_addr; {set}; }}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  chain ingress {{ type filter hook ingress device \"{device}\" priority 0; policy accept; {rule}; }}");
        sb.AppendLine("}");
        var path = Path.Combine(Path.GetTempPath(), $"{table}-{Guid.NewGuid():N}.nft");
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    private static ulong NftCounter(string table)
    {
        var m = CounterPattern().Match(Shell.Run("nft", "list", "chain", "netdev", table, "ingress"));
        return m.Success ? ulong.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex(@"counter packets (\d+)")]
    private static partial Regex CounterPattern();
}
