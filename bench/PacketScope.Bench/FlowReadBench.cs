// flow-read: one full read of a flow map holding a million flows. Baseline: a raw batch read into
// reusable buffers. Measured: the node's pipeline (MapStreamActor -> TelemetryBus -> NodeViewActor)
// until the view holds every flow, a steady-state re-read, and the process's memory. Runs in a fresh
// child process (flow-read-child) so its RSS holds nothing but this.
using System.Diagnostics;
using System.Runtime;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;
using Akka.Streams.Dsl;
using PacketScope.Actors.Interfaces;
using PacketScope.Actors.Telemetry;
using PacketScope.Actors.Views;
using PacketScope.Bench.Harness;
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Native.Shared;

namespace PacketScope.Bench;

internal static class FlowReadBench
{
    private const string Interface = "bench0";
    private const uint Capacity = 1_048_576;
    private const string ResultPrefix = "RESULT ";

    public sealed class Result
    {
        public int Flows { get; set; }
        public long InMap { get; set; }
        public int Chunk { get; set; }
        public string Gc { get; set; } = "";
        public double FillMs { get; set; }
        public double[] RawMs { get; set; } = [];
        public double FirstReadMs { get; set; }
        public double FirstFinalSeenMs { get; set; }
        public double ViewCompleteMs { get; set; }
        public int Polls { get; set; }
        public double[] SteadyMs { get; set; } = [];
        public long SteadyChanges { get; set; }
        public MemoryReading Before { get; set; }
        public MemoryReading AfterFirst { get; set; }
        public MemoryReading AfterGc { get; set; }
        public long ManagedBefore { get; set; }
        public long ManagedAfterFirst { get; set; }
        public long ManagedAfterGc { get; set; }
        public double TrackerOnlyMs { get; set; }
        public double TrackerSteadyMs { get; set; }
        public double ViewApplyMs { get; set; }
        public double QueryMs { get; set; }
        public double ViewDictionaryMb { get; set; }
        public double TrackerDictionaryMb { get; set; }
        public double ChangesMb { get; set; }
    }

    public static void Run(Options options)
    {
        var flows = options.Int("flows", 1_000_000);
        var chunk = options.Int("chunk", 4096);
        var pollMs = options.Int("poll-ms", 10);
        var runs = options.Int("runs", 3);
        var rssTarget = options.Double("rss-target-mb", 300);
        var timeTarget = options.Double("time-target-ms", 1000);

        var results = new List<Result>();
        for (var run = 1; run <= runs; run++)
        {
            Console.Error.WriteLine($"flow-read: run {run} of {runs}, {Fmt.N(flows)} flows in a fresh child process");
            using var child = Child.StartSelf(options.String("gc", "node"), "flow-read-child",
                "--flows", flows.ToString(), "--chunk", chunk.ToString(), "--poll-ms", pollMs.ToString());
            results.Add(child.WaitForJson<Result>(ResultPrefix, TimeSpan.FromMinutes(5)));
        }

        double Med(Func<Result, double> f) => Fmt.Median(results.Select(f));
        string Cell(Func<Result, double> f, string unit) => results.Count == 1
            ? Fmt.F(f(results[0]), 0) + unit
            : $"{Fmt.F(Med(f), 0)}{unit} ({Fmt.F(results.Min(f), 0)}-{Fmt.F(results.Max(f), 0)})";
        var raw = Med(r => Fmt.Median(r.RawMs));
        string Vs(Func<Result, double> f) => Fmt.F(Med(f) / raw, 2);
        var r0 = results[0];
        var viewComplete = Med(r => r.ViewCompleteMs);
        var rssFirst = Med(r => r.AfterFirst.RssMb);
        var peak = Med(r => r.AfterFirst.PeakMb);
        var rssGc = Med(r => r.AfterGc.RssMb);

        Console.WriteLine();
        Console.WriteLine($"## flow-read: one full read of {Fmt.N(r0.InMap)} flows (LRU hash, {Fmt.N(Capacity)} max, {r0.Chunk}-entry batches), {r0.Gc}, " +
            $"{results.Count} child processes: median (min-max)");
        Console.WriteLine();
        Console.Write(new Table("measurement", "time", "vs raw read")
            .Row("raw batch read, reusable buffers, no processing (baseline)", Cell(r => Fmt.Median(r.RawMs), " ms"), "1.00")
            .Row("pipeline: first read, start until the view holds every flow", Cell(r => r.ViewCompleteMs, " ms"), Vs(r => r.ViewCompleteMs))
            .Row("pipeline: first read, the reader's ReadTime (Final)", Cell(r => r.FirstReadMs, " ms"), Vs(r => r.FirstReadMs))
            .Row($"pipeline: second read, nothing changed (ReadTime; {results.Sum(r => r.SteadyChanges)} changes)", Cell(r => r.SteadyMs[0], " ms"), Vs(r => r.SteadyMs[0]))
            .Row("  parts, no actors: DeltaTracker over one read, all new", Cell(r => r.TrackerOnlyMs, " ms"), Vs(r => r.TrackerOnlyMs))
            .Row("  parts, no actors: DeltaTracker over one read, unchanged", Cell(r => r.TrackerSteadyMs, " ms"), Vs(r => r.TrackerSteadyMs))
            .Row("  parts, no actors: InterfaceView.Apply of every flow", Cell(r => r.ViewApplyMs, " ms"), "")
            .Row("  one GetConnections (limit 1) over the full view", Cell(r => r.QueryMs, " ms"), ""));
        Console.WriteLine();
        Console.Write(new Table("process memory (VmRSS)", "RSS", "managed heap")
            .Row("before the pipeline (map filled, raw reads done)", Cell(r => r.Before.RssMb, " MB"), Cell(r => r.ManagedBefore / 1048576.0, " MB"))
            .Row("after the first full read (view complete)", Cell(r => r.AfterFirst.RssMb, " MB"), Cell(r => r.ManagedAfterFirst / 1048576.0, " MB"))
            .Row("peak during the first read (VmHWM)", Cell(r => r.AfterFirst.PeakMb, " MB"), "")
            .Row("after steady reads + full compacting GC, pipeline live", Cell(r => r.AfterGc.RssMb, " MB"), Cell(r => r.ManagedAfterGc / 1048576.0, " MB")));
        Console.WriteLine();
        Console.WriteLine($"Live structures at {Fmt.N(r0.InMap)} flows (capacity x entry size): view dictionary {Fmt.Mb(r0.ViewDictionaryMb)}, " +
            $"DeltaTracker dictionary {Fmt.Mb(r0.TrackerDictionaryMb)}; one read's changes as published chunks {Fmt.Mb(r0.ChangesMb)}. " +
            $"Map fill {Fmt.F(Med(r => r.FillMs), 0)} ms. Polls of the view: every {pollMs} ms from when the read's Final was on the bus.");
        if (r0.InMap != r0.Flows)
            Console.WriteLine($"Note: {Fmt.N(r0.Flows)} flows written, {Fmt.N(r0.InMap)} in the map (the LRU evicted some while filling).");
        var timeOk = viewComplete < timeTarget;
        var rssOk = rssFirst < rssTarget && peak < rssTarget;
        Console.WriteLine($"Verdict: full read {Fmt.F(viewComplete, 0)} ms, {Fmt.F(viewComplete / raw, 1)}x the raw read (target < {Fmt.F(timeTarget, 0)} ms: {(timeOk ? "MET" : "MISSED")}); " +
            $"RSS {Fmt.Mb(rssFirst)}, peak {Fmt.Mb(peak)}, {Fmt.Mb(rssGc)} after GC (target < {Fmt.F(rssTarget, 0)} MB: {(rssOk ? "MET" : "MISSED")}).");
    }

    /// <summary>The measurement itself, in its own process; prints one RESULT line of JSON.</summary>
    public static int RunChild(Options options)
    {
        var r = new Result
        {
            Flows = options.Int("flows", 1_000_000),
            Chunk = options.Int("chunk", 4096),
            Gc = Paths.GcMode + ", " + Environment.ProcessorCount + " CPUs",
        };
        var pollMs = options.Int("poll-ms", 10);
        using var map = BpfMap.Create<ps_flow_key, ps_flow_value>(BpfMapType.LruHash, "psb_flows", Capacity);

        var started = Stopwatch.GetTimestamp();
        {
            const int batch = 10_000;
            var keys = new ps_flow_key[batch];
            var values = new ps_flow_value[batch];
            var now = MonotonicClock.NowNs();
            for (var first = 0; first < r.Flows; first += batch)
            {
                var n = Math.Min(batch, r.Flows - first);
                FlowFactory.Fill(first, keys.AsSpan(0, n), values.AsSpan(0, n), now);
                map.UpdateBatch<ps_flow_key, ps_flow_value>(keys.AsSpan(0, n), values.AsSpan(0, n));
            }
        }
        r.FillMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        Log($"filled {Fmt.N(r.Flows)} flows in {Fmt.F(r.FillMs, 0)} ms");

        {
            var keys = new ps_flow_key[r.Chunk];
            var values = new ps_flow_value[r.Chunk];
            var raw = new List<double>();
            for (var i = 0; i < 5; i++)
            {
                var t = Stopwatch.GetTimestamp();
                var reader = map.OpenBatchRead<ps_flow_key, ps_flow_value>();
                long count = 0;
                int n;
                while ((n = reader.Next(keys, values)) > 0)
                    count += n;
                raw.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                r.InMap = count;
            }
            r.RawMs = raw.ToArray();
            Log($"raw reads: {string.Join(", ", raw.Select(x => Fmt.F(x, 0)))} ms, {Fmt.N(r.InMap)} flows");
        }

        FullGc();
        r.Before = MemoryReading.Self();
        r.ManagedBefore = GC.GetTotalMemory(false);
        Proc.ResetPeakRss();

        RunPipeline(map, r, pollMs);
        FullGc();
        Breakdown(map, r);
        Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(r));
        return 0;
    }

    private static void RunPipeline(BpfMap map, Result r, int pollMs)
    {
        var hocon = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "config", "packetscope.conf"));
        var system = ActorSystem.Create("packetscope", ConfigurationFactory.ParseString(hocon));
        try
        {
            // As the node wires it (NodeHosting, InterfaceActor): the bus, the view, one map stream.
            var settings = new ConntrackSettings("bench", TimeSpan.FromSeconds(1), XdpMode.Auto, Capacity, 65_536, "unused",
                TimeSpan.FromSeconds(120), TimeSpan.FromSeconds(10)) { BatchSize = r.Chunk };
            var bus = new TelemetryBus(system);
            var view = system.ActorOf(NodeViewActor.Props("bench", [Interface], bus), NodeViewActor.Name);
            var finals = Channel.CreateUnbounded<(long At, MapReadSummary Summary, long Changes)>();
            long changes = 0;
            bus.Source.RunForeach(m =>
            {
                if (m is not MapDelta<ps_flow_key, ps_flow_value> d)
                    return;
                changes += d.Changes.Length;
                if (d.Final is not null)
                {
                    finals.Writer.TryWrite((Stopwatch.GetTimestamp(), d.Final, changes));
                    changes = 0;
                }
            }, bus.Materializer);
            // Subscriptions to the hub materialise asynchronously; in the node the view is up long before the first read.
            Thread.Sleep(1000);

            // The bench's map has no BPF program counting creations: every flow in it was created once.
            var created = (ulong)r.InMap;
            var flowSpec = new MapStreamSpec<ps_flow_key, ps_flow_value>(
                (in ps_flow_value v) => v.last_seen_ns, (in ps_flow_value v) => v.first_seen_ns,
                (in ps_flow_key k, in ps_flow_value v, ulong now) => FlowState.IsIdle(k, v, now, settings), () => created);
            var start = Stopwatch.GetTimestamp();
            system.ActorOf(MapStreamActor<ps_flow_key, ps_flow_value>.Props(Interface, map, bus, settings, flowSpec), "flows");
            // The view cannot hold every flow before the read's Final chunk is on the bus, and each
            // query walks the whole view (tens of ms at 1M flows, time the view is not applying
            // deltas), so polling starts only then.
            var first = Next(finals);
            var query = new GetConnections(new ConnectionQuery(Limit: 1));
            while (true)
            {
                r.Polls++;
                var response = view.Ask<ConnectionsResponse>(query, TimeSpan.FromSeconds(60)).Result;
                if (response.Total >= r.InMap)
                    break;
                if (Stopwatch.GetElapsedTime(start) > TimeSpan.FromMinutes(3))
                    throw new TimeoutException($"the view holds {response.Total} of {r.InMap} flows after 3 minutes");
                Thread.Sleep(pollMs);
            }
            r.ViewCompleteMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            r.AfterFirst = MemoryReading.Self();
            r.ManagedAfterFirst = GC.GetTotalMemory(false);
            r.FirstReadMs = first.Summary.ReadTime.TotalMilliseconds;
            r.FirstFinalSeenMs = Stopwatch.GetElapsedTime(start, first.At).TotalMilliseconds;
            Log($"first read: view complete after {Fmt.F(r.ViewCompleteMs, 0)} ms ({r.Polls} polls), reader's ReadTime {Fmt.F(r.FirstReadMs, 0)} ms, " +
                $"RSS {Fmt.Mb(r.AfterFirst.RssMb)} (peak {Fmt.Mb(r.AfterFirst.PeakMb)})");

            // Steady state: the map does not change, every read finds nothing new.
            var steady = new List<double>();
            for (var i = 0; i < 3; i++)
            {
                var next = Next(finals);
                steady.Add(next.Summary.ReadTime.TotalMilliseconds);
                r.SteadyChanges += next.Changes;
            }
            r.SteadyMs = steady.ToArray();
            Log($"steady reads: {string.Join(", ", steady.Select(x => Fmt.F(x, 0)))} ms, {r.SteadyChanges} changes");

            // What the running pipeline keeps once garbage is gone (the view and the tracker stay live).
            FullGc();
            r.AfterGc = MemoryReading.Self();
            r.ManagedAfterGc = GC.GetTotalMemory(false);
            Log($"after a full GC, pipeline running: RSS {Fmt.Mb(r.AfterGc.RssMb)}, managed {Fmt.Mb(r.ManagedAfterGc / 1048576.0)}");
        }
        finally
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
        }
    }

    private static (long At, MapReadSummary Summary, long Changes) Next(Channel<(long, MapReadSummary, long)> finals)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return finals.Reader.ReadAsync(timeout.Token).AsTask().Result;
    }

    /// <summary>The pipeline's parts without actors or streams, one after the other on this thread.</summary>
    private static void Breakdown(BpfMap map, Result r)
    {
        var settings = new ConntrackSettings("bench", TimeSpan.FromSeconds(1), XdpMode.Auto, Capacity, 65_536, "unused",
            TimeSpan.FromSeconds(120), TimeSpan.FromSeconds(10)) { BatchSize = r.Chunk };
        var tracker = new DeltaTracker<ps_flow_key, ps_flow_value>((in ps_flow_value v) => v.last_seen_ns, (in ps_flow_value v) => v.first_seen_ns, settings.ChunkSize);
        var keys = new ps_flow_key[r.Chunk];
        var values = new ps_flow_value[r.Chunk];
        var chunks = new List<MapChange<ps_flow_key, ps_flow_value>[]>();

        double TrackerRead(bool keep)
        {
            var t = Stopwatch.GetTimestamp();
            var now = MonotonicClock.NowNs();
            tracker.BeginRead(now);
            var reader = map.OpenBatchRead<ps_flow_key, ps_flow_value>();
            int n;
            while ((n = reader.Next(keys, values)) > 0)
            {
                for (var i = 0; i < n; i++)
                    tracker.Observe(keys[i], values[i], FlowState.IsIdle(keys[i], values[i], now, settings));
                while (tracker.TryTakeChunk(out var chunk))
                    if (keep)
                        chunks.Add(chunk);
            }
            var last = tracker.DrainChanges();
            tracker.EndRead((ulong)r.InMap, 0);
            if (keep)
                chunks.Add(last);
            return Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        }

        r.TrackerOnlyMs = TrackerRead(keep: true);
        r.TrackerSteadyMs = TrackerRead(keep: false);

        var clock = new ReadClock(MonotonicClock.NowNs(), MonotonicClock.RealtimeOffsetNs());
        var view = new InterfaceView(Interface);
        var started = Stopwatch.GetTimestamp();
        foreach (var c in chunks)
            view.Apply(new MapDelta<ps_flow_key, ps_flow_value>(Interface, clock, c, [], null, r.InMap));
        r.ViewApplyMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        started = Stopwatch.GetTimestamp();
        view.Query("bench", new ConnectionQuery(Limit: 1));
        r.QueryMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

        // The view sizes its dictionary once from the reader's size hint; the tracker keeps no per-flow state.
        var capacity = new Dictionary<int, byte>((int)r.InMap).EnsureCapacity(0);
        const double mb = 1024 * 1024;
        r.ViewDictionaryMb = capacity * (8.0 + Unsafe.SizeOf<ps_flow_key>() + Unsafe.SizeOf<InterfaceView.Entry<CompactFlow>>() + 4) / mb;
        r.TrackerDictionaryMb = 0;
        r.ChangesMb = r.InMap * (double)Unsafe.SizeOf<MapChange<ps_flow_key, ps_flow_value>>() / mb;
        Log($"without actors: tracker {Fmt.F(r.TrackerOnlyMs, 0)} ms (steady {Fmt.F(r.TrackerSteadyMs, 0)} ms), view apply {Fmt.F(r.ViewApplyMs, 0)} ms, query {Fmt.F(r.QueryMs, 0)} ms");
        GC.KeepAlive(view);
    }

    private static void FullGc()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    private static void Log(string message) => Console.Error.WriteLine("flow-read: " + message);
}
