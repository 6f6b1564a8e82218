// cluster, part rejoin: a non-seed node killed with SIGKILL and started again at once at the same address (same ports,
// same data directory), timed from the restart until the seed lists the new incarnation up and reachable and the node
// itself is ready (the cluster's rules in its kernel); against a fresh node (a new address, an empty data directory)
// joining the same cluster in the same run, in the place of a node that left.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using PacketScope.Bench.Harness;
using PacketScope.Testing;

namespace PacketScope.Bench;

internal static partial class ClusterBench
{
    /// <summary>Milliseconds from the start until the seed listed the node up (Member) and until it was ready (Ready).</summary>
    private sealed record JoinTime(double MemberMs, double ReadyMs)
    {
        public double BothMs => Math.Max(MemberMs, ReadyMs);
    }

    private sealed record RejoinResult(int Nodes, List<JoinTime> Fresh, List<JoinTime> Rejoin);

    private static void RunRejoin(Options options)
    {
        var sizes = options.String("rejoin-nodes", "3,5").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
        var rounds = options.Int("rejoin-rounds", 10);
        var target = options.Double("rejoin-target-s", 5);
        if (sizes.Any(n => n < 2))
            throw new ArgumentException("--rejoin-nodes: every cluster needs a seed and at least one node to kill");
        var results = sizes.Select(n => MeasureRejoin(n, rounds)).ToList();

        Console.WriteLine();
        Console.WriteLine($"## cluster: rejoin after kill -9, {rounds} rounds per cluster size (after one warm-up), a non-seed node in turn, 3 rules in the store");
        Console.WriteLine();
        var table = new Table("nodes", "start", "seed lists it up p50", "ready p50", "both p50", "both p90", "max", "p50 vs fresh node", "every round (s)");
        foreach (var r in results)
            foreach (var (name, times) in new[] { ("fresh node, new address (baseline)", r.Fresh), ("kill -9, restarted at the same address", r.Rejoin) })
            {
                var both = times.Select(t => t.BothMs).ToList();
                table.Row(r.Nodes.ToString(CultureInfo.InvariantCulture), name, Seconds(Fmt.Median(times.Select(t => t.MemberMs))),
                    Seconds(Fmt.Median(times.Select(t => t.ReadyMs))), Seconds(Fmt.Median(both)), Seconds(NodeHttp.Percentile(both, 90)), Seconds(both.Max()),
                    Fmt.Ratio(Fmt.Median(both) / Fmt.Median(r.Fresh.Select(t => t.BothMs))), string.Join(" ", both.Select(ms => Fmt.F(ms / 1000, 1))));
            }
        Console.Write(table);
        Console.WriteLine();
        Console.WriteLine("Both: from just before the node process starts until (1) the seed's GET /api/nodes lists its address up and reachable, " +
            "with the started_at of the new process, and (2) its own /api/health answers 200 (interfaces attached, the cluster's rules in the kernel); " +
            "each polled every 20 ms. Fresh node: the node before it left with SIGTERM and was removed; the new one has a new cluster port and an empty data directory.");
        var worst = results.Select(r => Fmt.Median(r.Rejoin.Select(t => t.BothMs))).Max();
        Console.WriteLine($"Verdict: rejoin after kill -9 median {Seconds(worst)} at up to {sizes.Max()} nodes (target < {Fmt.F(target, 0)} s: {(worst < target * 1000 ? "MET" : "MISSED")}).");
    }

    private static RejoinResult MeasureRejoin(int count, int rounds)
    {
        var veths = new List<Veth>();
        var nodes = new List<Node>();
        try
        {
            StartCluster(count, 4096, veths, nodes);
            var seed = nodes[0];
            long version = 0;
            foreach (var port in new[] { 23, 69, 5353 })
            {
                var body = $$"""{"rule_type":"udp","protocol":"udp","dst_port":{{port}},"comment":"bench rejoin"}""";
                using var response = seed.Http.PostAsync("/api/filters", new StringContent(body, Encoding.UTF8, "application/json")).Result;
                Check(response, HttpStatusCode.Created);
                version = Version(response);
            }
            foreach (var n in nodes)
                WaitApplied(n.Http, version, Stopwatch.GetTimestamp());

            var fresh = new List<JoinTime>();
            var rejoin = new List<JoinTime>();
            for (var r = -1; r < rounds; r++) // one warm-up round
            {
                var k = 1 + (r + 1) % (count - 1);

                // Baseline: node k leaves, and a fresh node joins in its place.
                var left = nodes[k];
                var leftAddress = ClusterAddress(left.Args);
                left.Process.Stop(TimeSpan.FromSeconds(20));
                left.Process.Dispose();
                left.Http.Dispose();
                Directory.Delete(left.Data, recursive: true);
                WaitFor(() => MemberStatus(seed.Http, leftAddress) is null or "removed", $"the seed to see {leftAddress} removed", TimeSpan.FromSeconds(60));
                var data = Path.Combine(Path.GetTempPath(), $"ps-bench-cluster-{Guid.NewGuid():N}");
                var args = WithOption(WithOption(left.Args, "--cluster-port", Ports.Free().ToString(CultureInfo.InvariantCulture)), "--data", data);
                var time = StartAndTime(nodes, k, args, data);
                var node = nodes[k];
                if (r >= 0)
                    fresh.Add(time);

                // Kill -9, then at once the same command line again.
                node.Process.Kill();
                node.Process.Dispose();
                node.Http.Dispose();
                time = StartAndTime(nodes, k, node.Args, node.Data);
                if (r >= 0)
                    rejoin.Add(time);
                Console.Error.WriteLine($"cluster: {count} nodes, round {r + 1}: fresh {Fmt.F(fresh.LastOrDefault()?.BothMs ?? 0, 0)} ms, " +
                    $"rejoin {Fmt.F(time.BothMs, 0)} ms (seed {Fmt.F(time.MemberMs, 0)}, ready {Fmt.F(time.ReadyMs, 0)})");
            }
            return new RejoinResult(count, fresh, rejoin);
        }
        finally
        {
            StopCluster(veths, nodes);
        }
    }

    /// <summary>Starts node k with <paramref name="args"/>; the time until the seed (node 0) lists this process up and it is ready.</summary>
    private static JoinTime StartAndTime(List<Node> nodes, int k, string[] args, string data)
    {
        var seed = nodes[0];
        var address = ClusterAddress(args);
        var api = int.Parse(args[Array.IndexOf(args, "--api") + 1].Split(':')[1], CultureInfo.InvariantCulture);
        var startedAfter = DateTimeOffset.UtcNow;
        var t0 = Stopwatch.GetTimestamp();
        var node = nodes[k] = new Node(Child.StartNode(args), Client(api), data, args); // in the list at once: stopped and deleted whatever happens
        double? member = null, ready = null;
        var deadline = t0 + Stopwatch.Frequency * 90;
        while (member is null || ready is null)
        {
            if (node.Process.HasExited)
                throw new InvalidOperationException($"node {address} exited before it had rejoined:\n{node.Process.Stderr}");
            if (Stopwatch.GetTimestamp() > deadline)
                throw new TimeoutException($"node {address} had not rejoined within 90 s (seed lists it: {member is not null}, ready: {ready is not null}):\n{node.Process.Stderr}");
            if (member is null && IsUpSince(seed.Http, address, startedAfter))
                member = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (ready is null && IsHealthy(node.Http))
                ready = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            Thread.Sleep(20);
        }
        return new JoinTime(member.Value, ready.Value);
    }

    /// <summary>Whether the seed lists <paramref name="address"/> up and reachable, as the process started after <paramref name="startedAfter"/>.</summary>
    private static bool IsUpSince(HttpClient seed, string address, DateTimeOffset startedAfter)
    {
        var member = Member(seed, address);
        return member is { } m && m.GetProperty("status").GetString() == "up" && m.GetProperty("reachable").GetBoolean()
            && m.GetProperty("started_at").ValueKind == JsonValueKind.String && m.GetProperty("started_at").GetDateTimeOffset() >= startedAfter;
    }

    private static string? MemberStatus(HttpClient seed, string address) => Member(seed, address)?.GetProperty("status").GetString();

    private static JsonElement? Member(HttpClient seed, string address)
    {
        using var response = seed.GetAsync("/api/nodes").Result;
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"GET /api/nodes on the seed: {(int)response.StatusCode}");
        using var doc = JsonDocument.Parse(response.Content.ReadAsStringAsync().Result);
        // The newest entry for the address: a member first, a removed one (kept for a while) after it.
        foreach (var m in doc.RootElement.EnumerateArray().OrderBy(m => m.GetProperty("status").GetString() == "removed"))
            if (m.GetProperty("address").GetString() == address)
                return m.Clone();
        return null;
    }

    private static bool IsHealthy(HttpClient node)
    {
        try
        {
            using var response = node.GetAsync("/api/health").Result;
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (AggregateException)
        {
            return false; // not listening yet
        }
    }

    private static void WaitFor(Func<bool> condition, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"waited {timeout.TotalSeconds:F0} s for {what}");
            Thread.Sleep(50);
        }
    }

    private static string ClusterAddress(string[] args) =>
        $"akka.tcp://packetscope@127.0.0.1:{args[Array.IndexOf(args, "--cluster-port") + 1]}";

    /// <summary><paramref name="args"/> with the value of <paramref name="name"/> replaced.</summary>
    private static string[] WithOption(string[] args, string name, string value)
    {
        var copy = (string[])args.Clone();
        copy[Array.IndexOf(copy, name) + 1] = value;
        return copy;
    }

    private static string Seconds(double ms) => Fmt.F(ms / 1000, 2) + " s";
}
