// Three real nodes on loopback, each pinged from its own namespace a different number of times: any node's API
// answers for the whole cluster (each record names the node that saw it), for one node with ?node=NAME, lists
// every member in /api/nodes, and still answers, naming the node that is gone, once one is killed.
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Testing;
using Xunit;

namespace PacketScope.Kernel.Tests;

public sealed class ClusterViewSpecs : IDisposable
{
    private static readonly int[] Pings = [1, 2, 3];

    private readonly ClusterNodes _cluster = new(3);

    public void Dispose() => _cluster.Dispose();

    private void StartAll()
    {
        _cluster.Start(0, []).WaitReady(45);
        foreach (var i in new[] { 1, 2 })
            _cluster.Start(i, [0]);
        foreach (var i in new[] { 1, 2 })
            _cluster.Node(i).WaitReady(45);
    }

    private static (HttpStatusCode Status, JsonElement Body, string? Missing, long? Total) Get(NodeProcess node, string path)
    {
        var (status, body, headers) = ClusterNodes.Send(node, HttpMethod.Get, path).Result;
        var missing = headers.TryGetValues("X-Nodes-Missing", out var m) ? m.Single() : null;
        long? total = headers.TryGetValues("X-Total-Count", out var t) ? long.Parse(t.Single(), System.Globalization.CultureInfo.InvariantCulture) : null;
        return (status, body, missing, total);
    }

    private static string NodeOf(JsonElement record) => record.GetProperty("node").GetString()!;

    private static JsonElement Member(JsonElement nodes, string name) =>
        nodes.EnumerateArray().Single(m => m.GetProperty("node").ValueKind == JsonValueKind.String && NodeOf(m) == name);

    [Fact]
    public void Should_answer_for_the_whole_cluster_from_one_node_and_without_a_node_that_died()
    {
        StartAll();
        for (var i = 0; i < 3; i++)
            Assert.True(_cluster[i].Namespace.PingFromPeer(Pings[i]), $"ping into node {i + 1}");
        var n1 = _cluster.Node(0);
        string[] names = ["n1", "n2", "n3"];

        // Every member, with what it says about itself.
        var nodes = Shell.WaitFor(() => n1.GetJson("/api/nodes"),
            j => j.GetArrayLength() == 3 && j.EnumerateArray().All(m => m.GetProperty("ready").ValueKind == JsonValueKind.True),
            "three ready members in /api/nodes", 20);
        for (var i = 0; i < 3; i++)
        {
            var m = Member(nodes, names[i]);
            Assert.Equal("up", m.GetProperty("status").GetString());
            Assert.True(m.GetProperty("reachable").GetBoolean());
            Assert.Equal(i == 0, m.GetProperty("self").GetBoolean());
            Assert.Equal($"akka.tcp://packetscope@127.0.0.1:{_cluster[i].ClusterPort}", m.GetProperty("address").GetString());
            Assert.Equal(["sensor", "web"], m.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
            var iface = Assert.Single(m.GetProperty("interfaces").EnumerateArray());
            Assert.Equal(_cluster[i].Namespace.HostInterface, iface.GetProperty("interface").GetString());
            Assert.Equal("attached", iface.GetProperty("state").GetString());
            Assert.Equal(ClusterNodes.AppliedVersion(_cluster.Node(i)), m.GetProperty("rule_set_version").GetInt64());
            Assert.False(string.IsNullOrEmpty(m.GetProperty("version").GetString()));
            Assert.True(m.GetProperty("started_at").GetDateTimeOffset() < DateTimeOffset.UtcNow);
            Assert.InRange((DateTimeOffset.UtcNow - m.GetProperty("last_heartbeat").GetDateTimeOffset()).TotalSeconds, -1, 10);
        }

        // ICMP: each node's echo requests, named by the node that saw them.
        var icmp = Shell.WaitFor(() => Get(n1, "/api/icmp?type=8"), r => r.Body.GetArrayLength() == 3
                && r.Body.EnumerateArray().Sum(x => (int)x.GetProperty("packets").GetUInt64()) == Pings.Sum(),
            "every echo request of three nodes in /api/icmp", 15);
        Assert.Equal(3, icmp.Total);
        Assert.Null(icmp.Missing);
        for (var i = 0; i < 3; i++)
        {
            var request = icmp.Body.EnumerateArray().Single(r => NodeOf(r) == names[i]);
            Assert.Equal(_cluster[i].Namespace.PeerAddress.ToString(), request.GetProperty("src").GetString());
            Assert.Equal((ulong)Pings[i], request.GetProperty("packets").GetUInt64());
            Assert.Equal(_cluster[i].Namespace.HostInterface, request.GetProperty("interface").GetString());
        }

        // Connections: one echo flow per node, counted by that node.
        var flows = Shell.WaitFor(() => Get(n1, "/api/connections?protocol=icmp"), r => r.Body.GetArrayLength() == 3
                && r.Body.EnumerateArray().Sum(x => (int)x.GetProperty("orig").GetProperty("packets").GetUInt64()) == Pings.Sum(),
            "every echo of three nodes in /api/connections", 15);
        Assert.Equal(3, flows.Total);
        for (var i = 0; i < 3; i++)
        {
            var flow = flows.Body.EnumerateArray().Single(r => NodeOf(r) == names[i]);
            Assert.Equal(_cluster[i].Namespace.PeerAddress.ToString(), flow.GetProperty("src").GetString());
            Assert.Equal((ulong)Pings[i], flow.GetProperty("orig").GetProperty("packets").GetUInt64());
        }
        Assert.Equal(["n3", "n2", "n1"], Get(n1, "/api/connections?protocol=icmp&sort=packets").Body.EnumerateArray().Select(NodeOf));
        var top = Get(n1, "/api/connections?protocol=icmp&sort=packets&limit=1");
        Assert.Equal("n3", NodeOf(Assert.Single(top.Body.EnumerateArray())));
        Assert.Equal(3, top.Total); // before the limit, over the cluster

        // One node, by name; a name no member has.
        var only2 = Get(n1, "/api/connections?protocol=icmp&node=n2");
        Assert.Equal("n2", NodeOf(Assert.Single(only2.Body.EnumerateArray())));
        Assert.Equal(1, only2.Total);
        Assert.Equal("n2", NodeOf(Assert.Single(Get(n1, "/api/icmp?type=8&node=n2").Body.EnumerateArray())));
        Assert.Equal(_cluster[2].Namespace.HostInterface,
            Assert.Single(Get(n1, $"/api/connections?protocol=icmp&interface={_cluster[2].Namespace.HostInterface}").Body.EnumerateArray()).GetProperty("interface").GetString());
        var unknown = Get(n1, "/api/connections?node=n9");
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Equal("node", unknown.Body.GetProperty("field").GetString());
        Assert.Equal(HttpStatusCode.NotFound, Get(n1, "/api/stats?node=n9").Status);
        var wrongInterface = Get(n1, $"/api/connections?node=n1&interface={_cluster[2].Namespace.HostInterface}");
        Assert.Equal(HttpStatusCode.BadRequest, wrongInterface.Status);
        Assert.Equal("interface", wrongInterface.Body.GetProperty("field").GetString());

        // Stats: every node's interfaces, each naming its node; ?node= keeps the single-node object.
        var stats = Shell.WaitFor(() => Get(n1, "/api/stats").Body,
            s => s.GetProperty("interfaces").GetArrayLength() == 3 && Enumerable.Range(0, 3).All(i =>
                s.GetProperty("interfaces").EnumerateArray().Single(x => NodeOf(x) == names[i])
                    .GetProperty("ingress").GetProperty("icmp").GetProperty("packets").GetUInt64() >= (ulong)Pings[i]),
            "the pings of three nodes in /api/stats", 15);
        Assert.Equal(names, stats.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(0, stats.GetProperty("missing").GetArrayLength());
        var single = Get(n1, "/api/stats?node=n2").Body;
        Assert.Equal("n2", single.GetProperty("node").GetString());
        Assert.Equal(_cluster[1].Namespace.HostInterface, Assert.Single(single.GetProperty("interfaces").EnumerateArray()).GetProperty("interface").GetString());

        // Node 2 dies: the others still answer at once, naming it.
        _cluster.Stop(1, kill: true);
        var clock = Stopwatch.StartNew();
        var partial = Get(n1, "/api/icmp?type=8");
        clock.Stop();
        Assert.Equal(HttpStatusCode.OK, partial.Status);
        Assert.Equal("n2", partial.Missing);
        Assert.Equal(["n1", "n3"], partial.Body.EnumerateArray().Select(NodeOf).Order());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"the partial answer took {clock.Elapsed.TotalSeconds:F1} s");

        var afterKill = Shell.WaitFor(() => n1.GetJson("/api/nodes"), j =>
            {
                var m = Member(j, "n2");
                return !m.GetProperty("reachable").GetBoolean() || m.GetProperty("status").GetString() is "down" or "removed";
            }, "node 2 unreachable or down in /api/nodes", 30);
        var gone = Member(afterKill, "n2");
        Assert.True(gone.GetProperty("last_heartbeat").GetDateTimeOffset() < Member(afterKill, "n1").GetProperty("last_heartbeat").GetDateTimeOffset());
        Assert.True(Member(afterKill, "n3").GetProperty("reachable").GetBoolean());

        clock.Restart();
        var statsAfter = Get(n1, "/api/stats");
        clock.Stop();
        Assert.Equal(HttpStatusCode.OK, statsAfter.Status);
        Assert.Equal(["n1", "n3"], statsAfter.Body.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"stats without node 2 took {clock.Elapsed.TotalSeconds:F1} s");
    }
}
