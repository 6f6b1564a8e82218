// The cluster view: merging what each node summarised (totals add up, one sort and limit over the cluster, nodes
// that did not answer named), and the actor in a one-node cluster on loopback with a stand-in for the node's view.
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Views;
using PacketScope.Messages;
using Xunit;

namespace PacketScope.Actors.Tests;

public sealed class ClusterViewActorSpecs : TestKit
{
    private static readonly Config ClusterConfig = ConfigurationFactory.ParseString("""
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.cluster.roles = [sensor, web]
        """);

    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 5, 0, 0, TimeSpan.Zero);
    private static readonly FlowDirection Side = new(1, 100, 50, 50, 0, [], 0, 0, 0, 0, 64, 0, 0, 0, 0);
    private static readonly InterfaceStatus Attached = new("veth0", 7, "attached", "native", null, T0);

    private static readonly ClusterViewSettings Fast = new(TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(200), TimeSpan.FromMinutes(1));

    private static FlowRecord Flow(string node, ulong bytes, ulong packets = 1, int secondsAgo = 0, string key = "k") => new(
        node, "veth0", "ICMP", "ipv4", 0, "10.0.0.2", 7, "10.0.0.1", 7, "replied", Side, Side, packets, bytes,
        T0, T0.AddSeconds(-secondsAgo), 1, bytes, key, "");

    private static IcmpRecord Icmp(string node, int secondsAgo) => new(
        node, "veth0", "ingress", "ipv4", 8, 0, "echo_request", false, "10.0.0.2", "10.0.0.1", 0, 1, 84, 1, T0, T0.AddSeconds(-secondsAgo),
        7, 1, null, $"{node}-{secondsAgo}", "");

    private static NodeAnswer<ConnectionsResponse> Connections(string node, long total, params FlowRecord[] top) => new(node, new(total, top));

    // ---------------------------------------------------------------- merging

    [Fact]
    public void Should_sum_the_totals_and_take_the_top_of_the_cluster_by_bytes()
    {
        var answers = new[]
        {
            Connections("n1", 10, Flow("n1", 900), Flow("n1", 100)),
            Connections("n2", 5, Flow("n2", 500), Flow("n2", 400)),
            new NodeAnswer<ConnectionsResponse>("n3", null),
        };

        var merged = ClusterViewActor.MergeConnections(new ConnectionQuery(Limit: 3), answers);

        Assert.Equal(15, merged.Total);
        Assert.Equal([900ul, 500ul, 400ul], merged.Connections.Select(c => c.Bytes));
        Assert.Equal(["n1", "n2", "n2"], merged.Connections.Select(c => c.Node));
        Assert.Equal(["n1", "n2"], merged.Answered);
        Assert.Equal(["n3"], merged.Missing);
    }

    [Fact]
    public void Should_give_the_page_at_the_offset_of_the_merged_order()
    {
        // Each node sent its top offset + limit; the page is cut from the merged order, not from any one node's.
        var answers = new[]
        {
            Connections("n1", 10, Flow("n1", 900), Flow("n1", 600), Flow("n1", 100)),
            Connections("n2", 5, Flow("n2", 800), Flow("n2", 500), Flow("n2", 400)),
        };
        var merged = ClusterViewActor.MergeConnections(new ConnectionQuery(Limit: 2, Offset: 2), answers);
        Assert.Equal(15, merged.Total);
        Assert.Equal([600ul, 500ul], merged.Connections.Select(c => c.Bytes));
    }

    [Theory]
    [InlineData(ConnectionSort.Packets, new[] { "n2", "n1" })]
    [InlineData(ConnectionSort.LastSeen, new[] { "n1", "n2" })]
    [InlineData(ConnectionSort.Bytes, new[] { "n1", "n2" })]
    public void Should_sort_across_nodes_by_the_key_of_the_query(ConnectionSort sort, string[] expected)
    {
        var answers = new[]
        {
            Connections("n1", 1, Flow("n1", bytes: 900, packets: 2, secondsAgo: 1)),
            Connections("n2", 1, Flow("n2", bytes: 100, packets: 50, secondsAgo: 30)),
        };

        var merged = ClusterViewActor.MergeConnections(new ConnectionQuery(Limit: 10, Sort: sort), answers);

        Assert.Equal(expected, merged.Connections.Select(c => c.Node));
    }

    [Fact]
    public void Should_break_ties_by_node_then_key_so_the_order_is_stable()
    {
        var answers = new[]
        {
            Connections("n2", 2, Flow("n2", 100, key: "b"), Flow("n2", 100, key: "a")),
            Connections("n1", 1, Flow("n1", 100, key: "z")),
        };

        var merged = ClusterViewActor.MergeConnections(new ConnectionQuery(Limit: 10), answers);

        Assert.Equal(["n1/z", "n2/a", "n2/b"], merged.Connections.Select(c => $"{c.Node}/{c.Key}"));
    }

    [Fact]
    public void Should_merge_icmp_newest_first_and_cut_to_the_limit()
    {
        var answers = new[]
        {
            new NodeAnswer<IcmpResponse>("n1", new(3, [Icmp("n1", 1), Icmp("n1", 20), Icmp("n1", 40)])),
            new NodeAnswer<IcmpResponse>("n2", new(2, [Icmp("n2", 5), Icmp("n2", 30)])),
        };

        var merged = ClusterViewActor.MergeIcmp(new IcmpQuery(Limit: 3), answers);

        Assert.Equal(5, merged.Total);
        Assert.Equal(["n1-1", "n2-5", "n1-20"], merged.Messages.Select(m => m.Key));
        Assert.Empty(merged.Missing);
    }

    [Fact]
    public void Should_give_one_stats_response_per_node_that_answered_and_name_the_others()
    {
        var answers = new[]
        {
            new NodeAnswer<StatsResponse>("n2", new("n2", T0, [])),
            new NodeAnswer<StatsResponse>("n3", null),
            new NodeAnswer<StatsResponse>("n1", new("n1", T0, [])),
        };

        var merged = ClusterViewActor.MergeStats(answers);

        Assert.Equal(["n1", "n2"], merged.Nodes.Select(n => n.Node));
        Assert.Equal(["n3"], merged.Missing);
    }

    // ---------------------------------------------------------------- the actor, in a one-node cluster

    /// <summary>Stands in for NodeViewActor: answers what it is given an answer for, ignores the rest.</summary>
    private sealed class FakeView : ReceiveActor
    {
        public FakeView(bool answerStats)
        {
            Receive<GetNodeStatus>(_ => Sender.Tell(new NodeStatus("n1", true, [Attached])));
            Receive<GetConnections>(q => Sender.Tell(new ConnectionsResponse(2,
                new[] { Flow("n1", 300), Flow("n1", 200) }.Take(q.Query.Limit).ToList())));
            Receive<GetIcmp>(_ => Sender.Tell(new IcmpResponse(1, [Icmp("n1", 0)])));
            if (answerStats)
                Receive<GetStats>(_ => Sender.Tell(new StatsResponse("n1", T0, [])));
        }
    }

    private static readonly DateTimeOffset Started = DateTimeOffset.UtcNow;

    public ClusterViewActorSpecs() : base(ClusterConfig)
    {
        var cluster = Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == MemberStatus.Up, TimeSpan.FromSeconds(10));
    }

    private IActorRef ClusterView(bool answerStats = true) =>
        Sys.ActorOf(ClusterViewActor.Props("n1", ["sensor", "web"], ["veth0"], Started, "9.9.9-test",
            Sys.ActorOf(Akka.Actor.Props.Create(() => new FakeView(answerStats))), new GuardState(), Fast), ClusterViewActor.Name);

    private static T Ask<T>(IActorRef actor, object message) => actor.Ask<T>(message, TimeSpan.FromSeconds(5)).Result;

    [Fact]
    public void Should_answer_node_info_for_this_node_from_its_view_and_options()
    {
        var view = ClusterView();

        var info = Ask<NodeInfo>(view, GetNodeInfo.Instance);

        Assert.Equal("n1", info.Node);
        Assert.Equal(Cluster.Get(Sys).SelfAddress.ToString(), info.Address);
        Assert.Equal(["sensor", "web"], info.Roles);
        Assert.Equal([Attached], info.Interfaces);
        Assert.False(info.Ready); // the view is, but no rule set is in any kernel table yet
        Assert.Equal(-1, info.RuleSetVersion);
        Assert.Equal("9.9.9-test", info.Version);
        Assert.Equal(Started, info.StartedAt);
    }

    [Fact]
    public void Should_list_this_member_with_its_node_info_and_a_recent_heartbeat()
    {
        var view = ClusterView();

        var member = AwaitMember(view, m => m.LastHeartbeat is not null);
        var first = member.LastHeartbeat!.Value;
        var later = AwaitMember(view, m => m.LastHeartbeat > first); // the poller keeps asking

        Assert.Equal("n1", later.Node);
        Assert.Equal("up", later.Status);
        Assert.True(later.Reachable);
        Assert.True(later.Self);
        Assert.Equal(["sensor", "web"], later.Roles);
        Assert.Equal([Attached], later.Interfaces);
        Assert.Equal(-1, later.RuleSetVersion);
        Assert.InRange((DateTimeOffset.UtcNow - later.LastHeartbeat!.Value).TotalSeconds, 0, 5);
        Assert.Equal("n1", Assert.Single(Ask<ClusterDirectory>(view, GetClusterDirectory.Instance).Nodes).Node);
    }

    private ClusterMember AwaitMember(IActorRef view, Func<ClusterMember, bool> condition)
    {
        ClusterMember? found = null;
        AwaitCondition(() =>
        {
            found = Ask<ClusterMembersResponse>(view, GetClusterMembers.Instance).Members.SingleOrDefault();
            return found is not null && condition(found);
        }, TimeSpan.FromSeconds(5));
        return found!;
    }

    [Fact]
    public void Should_ask_every_sensor_or_only_the_node_named()
    {
        var view = ClusterView();
        AwaitCondition(() => Ask<ClusterDirectory>(view, GetClusterDirectory.Instance).Nodes.Count == 1, TimeSpan.FromSeconds(5));

        var all = Ask<ClusterConnectionsResponse>(view, new GetClusterConnections(new ConnectionQuery(Limit: 1)));
        var named = Ask<ClusterIcmpResponse>(view, new GetClusterIcmp(new IcmpQuery(), "n1"));
        var nobody = Ask<ClusterConnectionsResponse>(view, new GetClusterConnections(new ConnectionQuery(), "n9"));

        Assert.Equal(2, all.Total);
        Assert.Equal(300ul, Assert.Single(all.Connections).Bytes);
        Assert.Equal(["n1"], all.Answered);
        Assert.Empty(all.Missing);
        Assert.Equal("n1", Assert.Single(named.Messages).Node);
        Assert.Empty(nobody.Connections);
        Assert.Equal(["n9"], nobody.Missing);
    }

    [Fact]
    public void Should_answer_without_a_node_that_does_not_answer_in_time_and_name_it()
    {
        var view = ClusterView(answerStats: false);
        AwaitCondition(() => Ask<ClusterDirectory>(view, GetClusterDirectory.Instance).Nodes.Count == 1, TimeSpan.FromSeconds(5));

        var started = DateTime.UtcNow;
        var stats = Ask<ClusterStatsResponse>(view, new GetClusterStats());

        Assert.Empty(stats.Nodes);
        Assert.Equal(["n1"], stats.Missing);
        Assert.InRange((DateTime.UtcNow - started).TotalSeconds, 0.25, 3); // the per-node timeout, not the caller's
    }
}
