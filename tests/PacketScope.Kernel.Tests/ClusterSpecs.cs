// Three real node processes on loopback in one cluster, each filtering its own veth: a rule added
// through any node is enforced in every node's kernel; a killed and restarted node gets the current
// rules; the rule store moves off a node that stops and loses nothing. Each scenario runs twice: with
// every node's own SQLite journal (a moved store adopts the cluster's rule set) and with one
// PostgreSQL journal the cluster shares (a moved store recovers it from the journal).
using System.Net;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Testing;
using Xunit;

namespace PacketScope.Kernel.Tests;

public abstract class ClusterScenarios : IDisposable
{
    private const string NoPing = """{"rule_type":"icmp","icmp_type":8,"comment":"no ping"}""";

    protected readonly ClusterNodes _cluster = new(3);

    /// <summary>The journal options every node gets.</summary>
    protected abstract string[] JournalArgs { get; }

    /// <summary>Whether the nodes share one journal (no adoption needed when the store moves).</summary>
    protected abstract bool SharedJournal { get; }

    public virtual void Dispose() => _cluster.Dispose();

    /// <summary>Node 1 forms the cluster, nodes 2 and 3 join through it; all three ready.</summary>
    private void StartAll()
    {
        _cluster.Start(0, [], JournalArgs).WaitReady(45);
        foreach (var i in new[] { 1, 2 })
            _cluster.Start(i, [0], JournalArgs);
        foreach (var i in new[] { 1, 2 })
            _cluster.Node(i).WaitReady(45);
    }

    private async Task<(int Id, long Version)> Add(int node, string rule)
    {
        var (status, body, headers) = await ClusterNodes.Send(_cluster.Node(node), HttpMethod.Post, "/api/filters", rule);
        // Right after the store's node left, the store may still be moving (and adopting): 503 means retry.
        for (var retry = 0; status == HttpStatusCode.ServiceUnavailable && retry < 10; retry++)
        {
            await Task.Delay(500);
            (status, body, headers) = await ClusterNodes.Send(_cluster.Node(node), HttpMethod.Post, "/api/filters", rule);
        }
        Assert.True(status == HttpStatusCode.Created, $"POST /api/filters on node {node + 1}: {(int)status} {body}");
        var version = long.Parse(headers.GetValues("X-Rule-Set-Version").Single(), System.Globalization.CultureInfo.InvariantCulture);
        return (body.GetProperty("id").GetInt32(), version);
    }

    [Fact]
    public async Task Should_enforce_a_rule_added_on_one_node_on_every_node_and_bring_a_restarted_node_up_to_date()
    {
        StartAll();
        foreach (var i in new[] { 0, 1, 2 })
            Assert.True(_cluster[i].Namespace.PingFromPeer(1), $"ping into node {i + 1} before any rule");

        var (_, version) = await Add(0, NoPing);
        foreach (var i in new[] { 0, 1, 2 })
            _cluster.WaitApplied(i, version);
        Assert.False(_cluster[2].Namespace.PingFromPeer(2)); // added on node 1, dropped on node 3
        Assert.False(_cluster[1].Namespace.PingFromPeer(1));

        // Node 2 dies; a rule is added on node 3 meanwhile; node 2 comes back at the same address.
        _cluster.Stop(1, kill: true);
        var killedAt = DateTimeOffset.UtcNow;
        var (id2, version2) = await Add(2, """{"rule_type":"udp","protocol":"udp","dst_port":5353,"comment":"no mDNS"}""");
        _cluster.WaitApplied(0, version2);
        _cluster.Start(1, [0], JournalArgs).WaitReady(60);
        // The seed turned the new incarnation away once (it downed the old one) and let it in when it asked again, a
        // second later: with Akka's default of 10 s between tries, a loaded machine left too few of them in the 30 s
        // join timeout (a clean-clone `make test` saw the node give up).
        var delay = ClusterNodes.RejoinDelay(_cluster.Node(0).Output, _cluster[1].ClusterPort);
        Assert.True(delay is null || delay < TimeSpan.FromSeconds(8), $"the restarted node joined {delay?.TotalSeconds:F1} s after the seed first turned it away");
        _cluster.WaitApplied(1, version2); // ready means the current rules are in its kernel already
        // The seed lists the new incarnation (started after the kill), up and reachable.
        Shell.WaitFor(() => _cluster.Node(0).GetJson("/api/nodes").EnumerateArray().Where(m => m.GetProperty("node").GetString() == "n2").ToList(),
            ms => ms.Count == 1 && ms[0].GetProperty("status").GetString() == "up" && ms[0].GetProperty("reachable").GetBoolean()
                && ms[0].GetProperty("started_at").GetDateTimeOffset() > killedAt,
            "the seed listing the restarted node 2 up, as the new process", 10);
        Assert.False(_cluster[1].Namespace.PingFromPeer(1));
        var rules = _cluster.Node(1).GetJson("/api/filters");
        Assert.Contains(rules.EnumerateArray(), r => r.GetProperty("id").GetInt32() == id2);
    }

    [Fact]
    public async Task Should_move_the_rule_store_off_a_node_that_stops_and_lose_no_rule()
    {
        StartAll();
        var (first, _) = await Add(1, NoPing);
        var (second, version) = await Add(2, """{"rule_type":"tcp","protocol":"tcp","dst_port":23,"comment":"no telnet"}""");
        foreach (var i in new[] { 0, 1, 2 })
            _cluster.WaitApplied(i, version);

        _cluster.Stop(0); // the oldest node, where the store runs: it leaves, the store moves to the next oldest

        var (third, version3) = await Add(2, """{"rule_type":"udp","protocol":"udp","dst_port":69,"comment":"no tftp"}""");
        Assert.True(third > second, $"id {third} after {second}: ids go on from the cluster's");
        Assert.True(version3 > version);
        foreach (var i in new[] { 1, 2 })
            _cluster.WaitApplied(i, version3);
        var ids = _cluster.Node(1).GetJson("/api/filters").EnumerateArray().Select(r => r.GetProperty("id").GetInt32()).Order().ToList();
        Assert.Equal([first, second, third], ids);
        Assert.False(_cluster[2].Namespace.PingFromPeer(1)); // the first rule is still enforced
        // With a shared journal the moved store recovered everything itself; with per-node journals it adopted the cluster's set.
        // (Nodes 2 and 3 joined at the same time: either may be the next oldest, where the store moved.)
        Assert.Equal(!SharedJournal, (_cluster.Node(1).Output + _cluster.Node(2).Output).Contains("adopted", StringComparison.Ordinal));
    }
}

public sealed class ClusterSqliteSpecs : ClusterScenarios
{
    protected override string[] JournalArgs => [];

    protected override bool SharedJournal => false;

    [Fact]
    public async Task Should_down_a_node_the_majority_cannot_reach_and_end_it_with_exit_3()
    {
        var cluster = _cluster;
        cluster.Start(0, []).WaitReady(45);
        cluster.Start(1, [0]);
        cluster.Start(2, [0]);
        cluster.Node(1).WaitReady(45);
        cluster.Node(2).WaitReady(45);

        // Node 3 freezes (SIGSTOP): unreachable. After the resolver's stable-after, nodes 1 and 2 (the majority) down it.
        var frozen = cluster.Node(2);
        frozen.Signal("STOP");
        try
        {
            var (status, _, _) = await ClusterNodes.Send(cluster.Node(0), HttpMethod.Post, "/api/filters", """{"rule_type":"udp","protocol":"udp","dst_port":9,"comment":"while n3 is away"}""");
            Assert.Equal(HttpStatusCode.Created, status); // the majority goes on
            // The decision is the leader's: the reachable node with the lowest address, node 1 or node 2.
            Shell.WaitFor(() => cluster.Node(0).Output + cluster.Node(1).Output,
                o => o.Contains("SBR took decision", StringComparison.Ordinal) && o.Contains("Leader is removing", StringComparison.Ordinal),
                "the majority's leader downing and removing the unreachable node 3", 60);
        }
        finally
        {
            frozen.Signal("CONT");
        }
        // Thawed, node 3 learns it was downed: it stops and exits 3 so a supervisor restarts it. Its datapath stays pinned,
        // enforcing the rules it had, for the restart to take over: a down never opens the firewall.
        Assert.True(frozen.WaitForExit(60), $"node 3 did not exit after being downed:\n{frozen.Output}");
        Assert.Equal(3, frozen.ExitCode);
        Assert.Contains("this node was removed from the cluster", frozen.Output);
        Assert.Contains("left pinned", frozen.Output);
        Assert.NotEqual(0u, PacketScope.Native.NetInterface.XdpProgramId(cluster[2].Namespace.HostIndex));
    }
}

public sealed class ClusterPostgresSpecs : ClusterScenarios, IClassFixture<PostgresServer>
{
    private readonly PostgresServer _postgres;
    private readonly string _connection;

    public ClusterPostgresSpecs(PostgresServer postgres)
    {
        _postgres = postgres;
        try
        {
            _connection = postgres.CreateDatabase();
        }
        catch
        {
            base.Dispose(); // xUnit disposes only what it constructed: the namespaces and directories go now
            throw;
        }
    }

    protected override string[] JournalArgs => ["--journal", "postgresql", "--journal-connection", _connection];

    protected override bool SharedJournal => true;

    public override void Dispose()
    {
        string tables;
        try
        {
            // The rule events are in PostgreSQL, not in any node's SQLite file.
            tables = _postgres.Query(_connection, "select table_name from information_schema.tables where table_schema = 'public'");
        }
        finally
        {
            base.Dispose();
        }
        Assert.Contains("journal", tables, StringComparison.Ordinal);
    }
}
