// cluster: (1) rule propagation: the time from a rule change POSTed on one node until every node's
// kernel classifies by it, for clusters of 3 and 5 real node processes on loopback (each attached
// to its own veth), as a ratio to a one-node cluster measured in the same invocation. (2) The
// cluster-wide connection query with 100,000 flows in every node's kernel table (written into the
// running nodes' maps), as a ratio to the same query answered by the asked node alone. (3) Rejoin after kill -9
// (ClusterRejoinBench.cs).
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PacketScope.Bench.Harness;
using PacketScope.Testing;

namespace PacketScope.Bench;

internal static partial class ClusterBench
{
    private const string Token = "bench-cluster-token-0123456789abcdef";

    private sealed record Result(int Nodes, List<double> AllMs, List<double> PostMs, List<double> FirstMs);

    public static void Run(Options options)
    {
        string[] parts = ["propagation", "query", "rejoin"];
        if (options.Runs("propagation", parts))
            RunPropagation(options);
        if (options.Runs("query", parts))
            RunQuery(options);
        if (options.Runs("rejoin", parts))
            RunRejoin(options);
    }

    private static void RunPropagation(Options options)
    {
        var sizes = options.String("nodes", "3,5").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
        var changes = options.Int("changes", 60);
        var target = options.Double("target-ms", 500);
        var results = new List<Result>();
        foreach (var n in new[] { 1 }.Concat(sizes))
            results.Add(Measure(n, changes));

        Console.WriteLine();
        Console.WriteLine($"## cluster: rule propagation, {changes} changes per cluster size (alternately a new rule added and the previous one deleted), POSTed on each node in turn");
        Console.WriteLine();
        var baseline = results[0];
        var table = new Table("nodes", "POST answered p50", "first node p50", "every node p50", "every node p99", "max", "p99 vs 1 node");
        foreach (var r in results)
            table.Row(r.Nodes.ToString(CultureInfo.InvariantCulture), Ms(NodeHttp.Percentile(r.PostMs, 50)), Ms(NodeHttp.Percentile(r.FirstMs, 50)), Ms(NodeHttp.Percentile(r.AllMs, 50)),
                Ms(NodeHttp.Percentile(r.AllMs, 99)), Ms(r.AllMs.Max()), Fmt.Ratio(NodeHttp.Percentile(r.AllMs, 99) / NodeHttp.Percentile(baseline.AllMs, 99)));
        Console.Write(table);
        Console.WriteLine();
        Console.WriteLine("Every node: from just before the POST until the last node's /api/health reports the change's rule-set version applied on its interface " +
            "(polled every 2 ms per node). The one-node row is the same path without the cluster: store, compile, kernel write.");
        var worst = results.Skip(1).Select(r => NodeHttp.Percentile(r.AllMs, 99)).DefaultIfEmpty(0).Max();
        Console.WriteLine($"Verdict: rule propagation p99 {Ms(worst)} at up to {sizes.DefaultIfEmpty(1).Max()} nodes (target < {Fmt.F(target, 0)} ms: {(worst < target ? "MET" : "MISSED")}).");
    }

    /// <summary>A running node and its command line (a restart at the same address reuses it).</summary>
    private sealed record Node(Child Process, HttpClient Http, string Data, string[] Args);

    /// <summary>Starts <paramref name="count"/> nodes, each on its own veth, the first forming the cluster; all healthy.</summary>
    private static void StartCluster(int count, uint maxFlows, List<Veth> veths, List<Node> nodes)
    {
        var clusterPorts = Enumerable.Range(0, count).Select(_ => Ports.Free()).ToList();
        for (var i = 0; i < count; i++)
        {
            var veth = Veth.Create();
            veths.Add(veth);
            var api = Ports.Free();
            var data = Path.Combine(Path.GetTempPath(), $"ps-bench-cluster-{Guid.NewGuid():N}");
            var args = new List<string>
            {
                "--iface", veth.Receiver, "--api", $"127.0.0.1:{api}", "--data", data, "--max-flows", maxFlows.ToString(CultureInfo.InvariantCulture),
                "--node-name", $"b{i + 1}", "--cluster-port", clusterPorts[i].ToString(CultureInfo.InvariantCulture), "--api-token", Token,
            };
            if (i > 0)
                args.AddRange(["--seed", $"127.0.0.1:{clusterPorts[0]}"]);
            nodes.Add(new Node(Child.StartNode([.. args]), Client(api), data, [.. args]));
            if (i == 0)
                NodeHttp.WaitHealthy(nodes[0].Process, nodes[0].Http, TimeSpan.FromSeconds(90)); // the first node forms the cluster before the others join it
        }
        foreach (var n in nodes)
            NodeHttp.WaitHealthy(n.Process, n.Http, TimeSpan.FromSeconds(90));
        Console.Error.WriteLine($"cluster: {count} node(s) ready");
    }

    private static HttpClient Client(int apiPort)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{apiPort}"), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return http;
    }

    private static void StopCluster(List<Veth> veths, List<Node> nodes)
    {
        // Each item on its own: one that fails does not leave the others behind.
        foreach (var n in nodes)
            Try($"stop node {n.Process.Pid}", () =>
            {
                try
                {
                    n.Process.Stop(TimeSpan.FromSeconds(20));
                }
                finally
                {
                    n.Process.Dispose();
                    n.Http.Dispose();
                    if (Directory.Exists(n.Data))
                        Directory.Delete(n.Data, recursive: true);
                }
            });
        foreach (var v in veths)
            Try($"delete veth {v.Receiver}", v.Dispose);
    }

    private static void Try(string what, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"cluster: {what} failed: {e.Message}");
        }
    }

    private static Result Measure(int count, int changes)
    {
        var veths = new List<Veth>();
        var nodes = new List<Node>();
        try
        {
            StartCluster(count, 4096, veths, nodes);

            var all = new List<double>();
            var post = new List<double>();
            var first = new List<double>();
            int? previous = null;
            for (var c = -5; c < changes; c++) // five warm-up changes
            {
                var node = nodes[(c + 5) % count];
                var t0 = Stopwatch.GetTimestamp();
                long version;
                if (previous is null)
                {
                    var body = $$"""{"rule_type":"udp","protocol":"udp","dst_port":{{20000 + c + 5}},"comment":"bench"}""";
                    using var response = node.Http.PostAsync("/api/filters", new StringContent(body, Encoding.UTF8, "application/json")).Result;
                    Check(response, HttpStatusCode.Created);
                    previous = JsonDocument.Parse(response.Content.ReadAsStringAsync().Result).RootElement.GetProperty("id").GetInt32();
                    version = Version(response);
                }
                else
                {
                    using var response = node.Http.DeleteAsync($"/api/filters/{previous}").Result;
                    Check(response, HttpStatusCode.OK);
                    previous = null;
                    version = Version(response);
                }
                var answered = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                var applied = nodes.Select(n => Task.Run(() => WaitApplied(n.Http, version, t0))).ToArray();
                Task.WaitAll(applied);
                if (c < 0)
                    continue;
                post.Add(answered);
                all.Add(applied.Max(t => t.Result));
                first.Add(applied.Min(t => t.Result));
            }
            return new Result(count, all, post, first);
        }
        finally
        {
            StopCluster(veths, nodes);
        }
    }

    // ---------------------------------------------------------------- (2) cluster-wide query

    private static void RunQuery(Options options)
    {
        var count = options.Int("query-nodes", 3);
        var flows = options.Int("query-flows", 100_000);
        var rounds = options.Int("query-rounds", 30);
        var veths = new List<Veth>();
        var nodes = new List<Node>();
        try
        {
            StartCluster(count, (uint)Math.Max(flows * 2, 4096), veths, nodes);
            for (var i = 0; i < count; i++)
                FillFlows(nodes[i].Process.Pid, first: i * flows, flows);
            for (var i = 0; i < count; i++)
            {
                var name = $"b{i + 1}";
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
                while (Total(nodes[0].Http, $"/api/connections?node={name}&limit=1") < flows)
                {
                    if (DateTime.UtcNow > deadline)
                        throw new TimeoutException($"node {name}'s view did not reach {flows} flows within 60 s");
                    Thread.Sleep(200);
                }
            }
            Console.Error.WriteLine($"cluster: {count} x {flows:N0} flows in the views");

            var shapes = new (string Name, string Path)[]
            {
                ("one node (the asked one), top 100 by bytes", "/api/connections?node=b1&limit=100&sort=bytes"),
                ($"all {count} nodes, top 100 by bytes", "/api/connections?limit=100&sort=bytes"),
                ("one node, UDP to port 53, top 100", "/api/connections?node=b1&limit=100&protocol=udp&port=53"),
                ($"all {count} nodes, UDP to port 53, top 100", "/api/connections?limit=100&protocol=udp&port=53"),
            };
            var times = shapes.ToDictionary(s => s.Name, _ => new List<double>());
            var totals = shapes.ToDictionary(s => s.Name, _ => 0L);
            for (var r = -3; r < rounds; r++) // three warm-up rounds
                foreach (var (name, path) in shapes)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    var total = Total(nodes[0].Http, path);
                    var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                    if (r < 0)
                        continue;
                    times[name].Add(ms);
                    totals[name] = total;
                }

            Console.WriteLine();
            Console.WriteLine($"## cluster: connection query, {count} nodes with {flows:N0} flows each in the kernel and the view, asked on node 1, {rounds} rounds");
            Console.WriteLine();
            var table = new Table("query", "matching flows (X-Total-Count)", "p50", "p99", "p50 vs one node");
            for (var k = 0; k < shapes.Length; k++)
            {
                var (name, _) = shapes[k];
                var baseline = NodeHttp.Percentile(times[shapes[k - k % 2].Name], 50);
                table.Row(name, totals[name].ToString("N0", CultureInfo.InvariantCulture), Ms(NodeHttp.Percentile(times[name], 50)), Ms(NodeHttp.Percentile(times[name], 99)),
                    Fmt.Ratio(NodeHttp.Percentile(times[name], 50) / baseline));
            }
            Console.Write(table);
            Console.WriteLine();
            Console.WriteLine("Each node filters, sorts and limits its own view and sends at most `limit` records; node 1 merges. " +
                "Time: the HTTP request on node 1 until its whole JSON answer is read.");
        }
        finally
        {
            StopCluster(veths, nodes);
        }
    }

    private static long Total(HttpClient http, string path)
    {
        using var response = http.GetAsync(path).Result;
        response.Content.ReadAsStringAsync().Result.AsSpan(); // the whole body, as a client reads it
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"GET {path}: {(int)response.StatusCode}");
        if (response.Headers.TryGetValues("X-Nodes-Missing", out var missing))
            throw new InvalidOperationException($"GET {path}: nodes missing: {string.Join(",", missing)}");
        return long.Parse(response.Headers.GetValues("X-Total-Count").Single(), CultureInfo.InvariantCulture);
    }

    /// <summary>Writes <paramref name="count"/> flows into the flow table of the node process <paramref name="pid"/>.</summary>
    internal static void FillFlows(int pid, int first, int count)
    {
        var (id, maxEntries) = FlowMapOf(pid);
        using var map = PacketScope.Native.BpfMap.OpenById(id, "ps_flows", PacketScope.Native.BpfMapType.LruHash,
            (uint)System.Runtime.CompilerServices.Unsafe.SizeOf<PacketScope.Native.Shared.ps_flow_key>(),
            (uint)System.Runtime.CompilerServices.Unsafe.SizeOf<PacketScope.Native.Shared.ps_flow_value>(), maxEntries);
        const int chunk = 4096;
        var keys = new PacketScope.Native.Shared.ps_flow_key[chunk];
        var values = new PacketScope.Native.Shared.ps_flow_value[chunk];
        var now = PacketScope.Native.MonotonicClock.NowNs();
        for (var done = 0; done < count; done += chunk)
        {
            var n = Math.Min(chunk, count - done);
            FlowFactory.Fill(first + done, keys.AsSpan(0, n), values.AsSpan(0, n), now);
            map.UpdateBatch<PacketScope.Native.Shared.ps_flow_key, PacketScope.Native.Shared.ps_flow_value>(keys.AsSpan(0, n), values.AsSpan(0, n));
        }
    }

    /// <summary>The id and size of the flow table the process holds open (/proc/PID/fdinfo: an LRU hash with the flow key's and value's sizes).</summary>
    private static (uint Id, uint MaxEntries) FlowMapOf(int pid)
    {
        var keySize = System.Runtime.CompilerServices.Unsafe.SizeOf<PacketScope.Native.Shared.ps_flow_key>();
        var valueSize = System.Runtime.CompilerServices.Unsafe.SizeOf<PacketScope.Native.Shared.ps_flow_value>();
        foreach (var file in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(file);
            }
            catch (IOException)
            {
                continue;
            }
            string? Field(string name) => lines.FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal))?[(name.Length + 1)..].Trim();
            if (Field("map_type") == "9" && Field("key_size") == keySize.ToString(CultureInfo.InvariantCulture)
                && Field("value_size") == valueSize.ToString(CultureInfo.InvariantCulture))
                return (uint.Parse(Field("map_id")!, CultureInfo.InvariantCulture), uint.Parse(Field("max_entries")!, CultureInfo.InvariantCulture));
        }
        throw new InvalidOperationException($"process {pid} holds no flow table open");
    }

    private static void Check(HttpResponseMessage response, HttpStatusCode expected)
    {
        if (response.StatusCode != expected)
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {response.Content.ReadAsStringAsync().Result}");
    }

    private static long Version(HttpResponseMessage response) =>
        long.Parse(response.Headers.GetValues("X-Rule-Set-Version").Single(), CultureInfo.InvariantCulture);

    /// <summary>Milliseconds from t0 until the node's every interface classifies by <paramref name="version"/> or newer.</summary>
    private static double WaitApplied(HttpClient http, long version, long t0)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            using var response = http.GetAsync("/api/health").Result;
            var applied = JsonDocument.Parse(response.Content.ReadAsStringAsync().Result).RootElement.GetProperty("filters").GetProperty("applied");
            if (applied.EnumerateObject().All(p => p.Value.ValueKind == JsonValueKind.Number && p.Value.GetInt64() >= version))
                return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            Thread.Sleep(2);
        }
        throw new TimeoutException($"rule-set version {version} not applied on {http.BaseAddress} within 30 s");
    }

    private static string Ms(double ms) => Fmt.F(ms, 0) + " ms";

}
