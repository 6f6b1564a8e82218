// cluster: (1) rule propagation: the time from a rule change POSTed on one node until every node's
// kernel classifies by it, for clusters of 3 and 5 real node processes on loopback (each attached
// to its own veth), as a ratio to a one-node cluster measured in the same invocation.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PacketScope.Bench.Harness;

namespace PacketScope.Bench;

internal static class ClusterBench
{
    private const string Token = "bench-cluster-token-0123456789abcdef";

    private sealed record Result(int Nodes, List<double> AllMs, List<double> PostMs, List<double> FirstMs);

    public static void Run(Options options)
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
            table.Row(r.Nodes.ToString(CultureInfo.InvariantCulture), Ms(Pct(r.PostMs, 50)), Ms(Pct(r.FirstMs, 50)), Ms(Pct(r.AllMs, 50)),
                Ms(Pct(r.AllMs, 99)), Ms(r.AllMs.Max()), Fmt.Ratio(Pct(r.AllMs, 99) / Pct(baseline.AllMs, 99)));
        Console.Write(table);
        Console.WriteLine();
        Console.WriteLine("Every node: from just before the POST until the last node's /api/health reports the change's rule-set version applied on its interface " +
            "(polled every 2 ms per node). The one-node row is the same path without the cluster: store, compile, kernel write.");
        var worst = results.Skip(1).Select(r => Pct(r.AllMs, 99)).DefaultIfEmpty(0).Max();
        Console.WriteLine($"Verdict: rule propagation p99 {Ms(worst)} at up to {sizes.DefaultIfEmpty(1).Max()} nodes (target < {Fmt.F(target, 0)} ms: {(worst < target ? "MET" : "MISSED")}).");
    }

    private static Result Measure(int count, int changes)
    {
        var veths = new List<Veth>();
        var nodes = new List<(Child Process, HttpClient Http, string Data)>();
        try
        {
            var clusterPorts = Enumerable.Range(0, count).Select(_ => FreePort()).ToList();
            for (var i = 0; i < count; i++)
            {
                var veth = Veth.Create();
                veths.Add(veth);
                var api = FreePort();
                var data = Path.Combine(Path.GetTempPath(), $"ps-bench-cluster-{Guid.NewGuid():N}");
                var args = new List<string>
                {
                    "--iface", veth.Receiver, "--api", $"127.0.0.1:{api}", "--data", data, "--max-flows", "4096", "--node-name", $"b{i + 1}",
                    "--cluster-port", clusterPorts[i].ToString(CultureInfo.InvariantCulture), "--api-token", Token,
                };
                if (i > 0)
                    args.AddRange(["--seed", $"127.0.0.1:{clusterPorts[0]}"]);
                var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{api}"), Timeout = TimeSpan.FromSeconds(10) };
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
                nodes.Add((Child.StartNode([.. args]), http, data));
                if (i == 0)
                    WaitHealthy(nodes[0].Process, http); // the first node forms the cluster before the others join it
            }
            foreach (var n in nodes)
                WaitHealthy(n.Process, n.Http);
            Console.Error.WriteLine($"cluster: {count} node(s) ready");

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
            foreach (var n in nodes)
            {
                n.Process.Stop(TimeSpan.FromSeconds(20));
                n.Process.Dispose();
                n.Http.Dispose();
                if (Directory.Exists(n.Data))
                    Directory.Delete(n.Data, recursive: true);
            }
            foreach (var v in veths)
                v.Dispose();
        }
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

    private static void WaitHealthy(Child node, HttpClient http)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (node.HasExited)
                throw new InvalidOperationException($"node {node.Pid} exited before it was healthy:\n{node.Stderr}");
            try
            {
                if (http.GetAsync("/api/health").Result.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (AggregateException)
            {
                // Not listening yet.
            }
            Thread.Sleep(100);
        }
        throw new TimeoutException($"node {node.Pid} not healthy within 90 s:\n{node.Stderr}");
    }

    private static double Pct(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Count) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }

    private static string Ms(double ms) => Fmt.F(ms, 0) + " ms";

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
