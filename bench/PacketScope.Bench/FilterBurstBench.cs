// filters --part burst: a real node on a veth takes a burst of rule changes over REST (8 clients POST 10,000
// rules, then DELETE 2,000 of them), against one client adding and deleting 1,000 in the same run. Reports
// changes/s, how long each acknowledged change waited for the kernel, /api/health's readiness, and node RSS.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PacketScope.Bench.Harness;
using PacketScope.Testing;

namespace PacketScope.Bench;

internal static class FilterBurstBench
{
    private const string Token = "bench-burst-token-0123456789abcdef";

    private sealed record Phase(string Name, int Clients, int Changes, double Seconds, List<double> AckMs, List<double> LagMs, double SettleMs,
        double ReadyShare, double PeakMb, double SettledMb, double MaxVersionBehind);

    /// <summary>One health sample: when, the lowest applied version over the interfaces, 200 or not, node RSS.</summary>
    private readonly record struct Sample(double AtMs, long Applied, bool Ready, double RssMb);

    public static void Run(Options options)
    {
        var burst = options.Int("burst-rules", 10_000);
        var deletes = options.Int("burst-deletes", 2_000);
        var clients = options.Int("burst-clients", 8);
        var single = options.Int("baseline-rules", 1_000);
        var settle = TimeSpan.FromSeconds(options.Double("settle-seconds", 20));
        var lagTarget = options.Double("lag-target-ms", 1000);
        var rssTarget = options.Double("rss-target-mb", 400);

        using var veth = Veth.Create();
        var api = Ports.Free();
        var data = Path.Combine(Path.GetTempPath(), $"ps-bench-burst-{Guid.NewGuid():N}");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{api}"), Timeout = TimeSpan.FromSeconds(60),
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var node = Child.StartNode("--iface", veth.Receiver, "--api", $"127.0.0.1:{api}", "--data", data, "--max-flows", "4096",
            "--cluster-port", Ports.Free().ToString(CultureInfo.InvariantCulture), "--api-token", Token);
        try
        {
            NodeHttp.WaitHealthy(node, http, TimeSpan.FromSeconds(90));
            Thread.Sleep(settle);
            var idle = MemoryReading.Of(node.Pid);
            Console.Error.WriteLine($"burst: node {node.Pid} healthy on {veth.Receiver}, idle RSS {Fmt.Mb(idle.RssMb)}");

            var phases = new List<Phase>();
            var ids = Measure(node, http, $"{Fmt.N(single)} adds, one client", 1, single, i => (HttpMethod.Post, "/api/filters", Rule(i)), settle, phases);
            Measure(node, http, $"{Fmt.N(single)} deletes, one client", 1, single, i => (HttpMethod.Delete, $"/api/filters/{ids[i]}", null), settle, phases);
            ids = Measure(node, http, $"{Fmt.N(burst)} adds, {clients} clients", clients, burst, i => (HttpMethod.Post, "/api/filters", Rule(single + i)),
                settle, phases);
            Measure(node, http, $"{Fmt.N(deletes)} deletes, {clients} clients", clients, deletes,
                i => (HttpMethod.Delete, $"/api/filters/{ids[i * (burst / deletes)]}", null), settle, phases);

            using var list = http.GetAsync("/api/filters").Result;
            var count = JsonDocument.Parse(list.Content.ReadAsStringAsync().Result).RootElement.GetArrayLength();
            var stored = list.Headers.GetValues("X-Rule-Set-Version").Single();
            var applied = list.Headers.GetValues("X-Rule-Set-Applied").Single();
            if (count != burst - deletes)
                throw new InvalidOperationException($"the store holds {count} rules after the burst, not {burst - deletes}");

            Console.WriteLine();
            Console.WriteLine($"## filters: a burst of rule changes over REST into one node (8,000-flow table), against one client in the same run");
            Console.WriteLine();
            var table = new Table("phase", "changes/s", "vs one client", "answer p50 (p99)", "ack to kernel p50", "p99", "max", "kernel has the last after",
                "most versions behind", "/api/health 200", "RSS peak (VmHWM)", $"RSS {settle.TotalSeconds:F0} s after");
            table.Row("idle node (baseline)", "", "", "", "", "", "", "", "", "", "", Fmt.Mb(idle.RssMb));
            for (var p = 0; p < phases.Count; p++)
            {
                var r = phases[p];
                var baseline = phases[p % 2]; // adds against one client's adds, deletes against one client's deletes
                table.Row(r.Name, Fmt.F(r.Changes / r.Seconds, 0), Fmt.F(r.Changes / r.Seconds / (baseline.Changes / baseline.Seconds), 2),
                    $"{Ms(NodeHttp.Percentile(r.AckMs, 50))} ({Ms(NodeHttp.Percentile(r.AckMs, 99))})",
                    Ms(NodeHttp.Percentile(r.LagMs, 50)), Ms(NodeHttp.Percentile(r.LagMs, 99)), Ms(r.LagMs.Max()), Ms(r.SettleMs),
                    Fmt.N((long)r.MaxVersionBehind), $"{Fmt.F(100 * r.ReadyShare, 0)}%", Fmt.Mb(r.PeakMb), Fmt.Mb(r.SettledMb));
            }
            Console.Write(table);
            Console.WriteLine();
            Console.WriteLine("Ack to kernel: for every acknowledged change, from its answer (X-Rule-Set-Version) until /api/health, polled every 10 ms, " +
                "shows that version or a newer one applied on the interface. Kernel has the last after: from the phase's last answer until its version is applied. " +
                $"After all phases the store holds {Fmt.N(count)} rules at version {stored}, applied {applied}.");
            var worstLag = phases.Max(r => r.LagMs.Max());
            var peak = phases.Max(r => r.PeakMb);
            Console.WriteLine($"Verdict: every change in the kernel at most {Ms(worstLag)} after its answer (target < {Fmt.F(lagTarget, 0)} ms: " +
                $"{(worstLag < lagTarget ? "MET" : "MISSED")}); RSS peak {Fmt.Mb(peak)} (target < {Fmt.F(rssTarget, 0)} MB: {(peak < rssTarget ? "MET" : "MISSED")}).");
        }
        finally
        {
            node.Stop(TimeSpan.FromSeconds(20));
            if (Directory.Exists(data))
                Directory.Delete(data, recursive: true);
        }
    }

    // Distinct /32 sources in 198.18.0.0/15, a blocklist as an IDS would feed it; every fourth also names a TCP port.
    private static string Rule(int i)
    {
        var a = $"198.{18 + (i >> 16 & 1)}.{i >> 8 & 0xff}.{i & 0xff}";
        return i % 4 == 0
            ? $$"""{"rule_type":"tcp","protocol":"tcp","src_ip":"{{a}}","dst_port":{{1 + i % 1000}},"comment":"burst {{i}}"}"""
            : $$"""{"src_ip":"{{a}}","comment":"burst {{i}}"}""";
    }

    /// <summary>Runs <paramref name="changes"/> requests from <paramref name="clients"/> concurrent clients, sampling /api/health and RSS.</summary>
    /// <returns>The ids of the rules created, by request index.</returns>
    private static int[] Measure(Child node, HttpClient http, string name, int clients, int changes, Func<int, (HttpMethod, string, string?)> request,
        TimeSpan settle, List<Phase> phases)
    {
        var ids = new int[changes];
        var acks = new ConcurrentBag<(double AtMs, long Version, double TookMs)>();
        var samples = new List<Sample>(); // under its own lock: the sampler adds, this thread reads
        var t0 = Stopwatch.GetTimestamp();
        double Now() => Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        File.WriteAllText($"/proc/{node.Pid}/clear_refs", "5"); // VmHWM from here
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var sample = Health(node, http, Now);
                lock (samples)
                    samples.Add(sample);
                Thread.Sleep(10);
            }
        });

        var next = -1;
        var workers = Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < changes)
            {
                var (method, path, body) = request(i);
                using var message = new HttpRequestMessage(method, path);
                if (body is not null)
                    message.Content = new StringContent(body, Encoding.UTF8, "application/json");
                var sent = Now();
                using var response = await http.SendAsync(message);
                var text = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != (method == HttpMethod.Post ? HttpStatusCode.Created : HttpStatusCode.OK))
                    throw new InvalidOperationException($"{method} {path}: {(int)response.StatusCode} {text}");
                var at = Now();
                acks.Add((at, long.Parse(response.Headers.GetValues("X-Rule-Set-Version").Single(), CultureInfo.InvariantCulture), at - sent));
                if (method == HttpMethod.Post)
                    ids[i] = JsonDocument.Parse(text).RootElement.GetProperty("id").GetInt32();
            }
        })).ToArray();
        Task.WaitAll(workers);
        var seconds = Now() / 1000;
        var last = acks.MaxBy(a => a.Version);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(300);
        bool Applied()
        {
            lock (samples)
                return samples.Count > 0 && samples[^1].Applied >= last.Version;
        }
        while (!Applied())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{name}: version {last.Version} not in the kernel within 300 s of the last answer");
            Thread.Sleep(10);
        }
        var peak = MemoryReading.Of(node.Pid).PeakMb;
        stop.Cancel();
        sampler.Wait();
        List<Sample> during;
        lock (samples)
            during = samples.ToList();

        // For each acknowledged version: the first sample at or after its answer that shows it (or newer) applied.
        var lags = new List<double>();
        foreach (var (at, version, _) in acks)
        {
            var s = during.First(s => s.AtMs >= at && s.Applied >= version);
            lags.Add(s.AtMs - at);
        }
        var settleMs = during.First(s => s.AtMs >= last.AtMs && s.Applied >= last.Version).AtMs - last.AtMs;
        // How many acknowledged versions the kernel was behind, at worst.
        var ackOrder = acks.OrderBy(a => a.AtMs).ToList();
        double behind = 0;
        var k = 0;
        long acked = 0;
        foreach (var s in during)
        {
            while (k < ackOrder.Count && ackOrder[k].AtMs <= s.AtMs)
                acked = Math.Max(acked, ackOrder[k++].Version);
            behind = Math.Max(behind, acked - s.Applied);
        }
        var window = during.Where(s => s.AtMs <= last.AtMs).ToList();
        var ready = window.Count == 0 ? 1 : window.Count(s => s.Ready) / (double)window.Count;

        Thread.Sleep(settle);
        var settled = MemoryReading.Of(node.Pid).RssMb;
        var phase = new Phase(name, clients, changes, seconds, acks.Select(a => a.TookMs).ToList(), lags, settleMs, ready,
            Math.Max(peak, during.Max(s => s.RssMb)), settled, behind);
        phases.Add(phase);
        Console.Error.WriteLine($"burst: {name}: {Fmt.F(changes / seconds, 0)}/s, ack to kernel max {Ms(lags.Max())}, RSS peak {Fmt.Mb(phase.PeakMb)}, " +
            $"settled {Fmt.Mb(settled)}");
        return ids;
    }

    // Stamped when the answer is in: the applied version it shows was true at some point before that.
    private static Sample Health(Child node, HttpClient http, Func<double> now)
    {
        using var response = http.GetAsync("/api/health").Result;
        var at = now();
        var applied = JsonDocument.Parse(response.Content.ReadAsStringAsync().Result).RootElement.GetProperty("filters").GetProperty("applied");
        var min = applied.EnumerateObject().Select(p => p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetInt64() : -1).DefaultIfEmpty(-1).Min();
        return new Sample(at, min, response.StatusCode == HttpStatusCode.OK, MemoryReading.Of(node.Pid).RssMb);
    }

    private static string Ms(double ms) => Fmt.F(ms, 0) + " ms";
}
