// A crash never opens the firewall: the node pins its datapath in bpffs, a kill -9 leaves it enforcing, the restart
// takes it over (flows and counters go on), a stale layout is replaced in place, and --detach removes a leftover.
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Native;
using PacketScope.Testing;
using Xunit;

namespace PacketScope.Kernel.Tests;

public sealed class DatapathPinSpecs : IDisposable
{
    private const string Token = ClusterNodes.Token; // ClusterNodes.Send carries it
    private readonly VethNamespace _ns = VethNamespace.Create();
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ps-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        _ns.Dispose();
        if (Directory.Exists(_data))
            Directory.Delete(_data, recursive: true);
    }

    private string PinDir => ConntrackProgram.PinDirectory(_ns.HostInterface);

    private NodeProcess Start(string maxFlows = "65536", params string[] extra)
    {
        var node = NodeProcess.Start(["--iface", _ns.HostInterface, "--interval", "0.2", "--max-flows", maxFlows, "--data", _data,
            "--api-token", Token, .. extra]);
        node.WaitReady(60);
        return node;
    }

    private static async Task<JsonElement> AddRule(NodeProcess node, string json)
    {
        var (status, body, _) = await ClusterNodes.Send(node, HttpMethod.Post, "/api/filters", json);
        Assert.True(status == HttpStatusCode.Created, body.ToString());
        return body;
    }

    private static ulong Hits(NodeProcess node, int id) =>
        node.GetJson($"/api/filters/{id}").GetProperty("hits").GetProperty("packets").GetUInt64();

    /// <summary>UDP datagrams from the namespace to the host, as fast as a shell loop sends them, counted where they arrive.</summary>
    private sealed class Flood : IDisposable
    {
        private readonly UdpClient _receiver;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _receive;
        private readonly System.Diagnostics.Process _sender;
        private long _received;

        public Flood(VethNamespace ns)
        {
            _receiver = new UdpClient(new IPEndPoint(ns.HostAddress, 0));
            Port = ((IPEndPoint)_receiver.Client.LocalEndPoint!).Port;
            _receive = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        await _receiver.ReceiveAsync(_stop.Token);
                        Interlocked.Increment(ref _received);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            });
            _sender = System.Diagnostics.Process.Start("ip", ["netns", "exec", ns.Namespace, "bash", "-c",
                $"while :; do for i in $(seq 20); do echo flood > /dev/udp/{ns.HostAddress}/{Port}; done; sleep 0.01; done"])!;
        }

        public int Port { get; }
        public long Received => Interlocked.Read(ref _received);
        /// <summary>
        /// Starts counting afresh once the rule drops everything: what the socket had queued from before the rule is read
        /// first (the count holds still for half a second), so only what passes from now on counts.
        /// </summary>
        public void ResetCount()
        {
            Shell.WaitFor(() =>
            {
                var before = Received;
                Thread.Sleep(500); // a window to see whether anything still arrives
                return (Before: before, After: Received);
            }, c => c.Before == c.After, "the datagrams queued before the rule to be read", 30);
            Interlocked.Exchange(ref _received, 0);
        }

        public void Dispose()
        {
            try
            {
                _sender.Kill(entireProcessTree: true);
                _sender.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }
            _stop.Cancel();
            _receive.Wait(5000);
            _receiver.Dispose();
        }
    }

    [Fact]
    public async Task Should_drop_every_packet_a_rule_drops_from_a_kill_9_through_the_restart_and_keep_flows_and_counters()
    {
        using var flood = new Flood(_ns);
        long dropped;
        int ruleId;
        ulong hitsBeforeKill;
        const ulong icmpBeforeKill = 4;
        using (var node = Start())
        {
            Shell.WaitFor(() => flood.Received, n => n > 200, "the flood arriving while no rule drops it");
            var rule = await AddRule(node, $$"""{"rule_type":"udp","protocol":"udp","dst_port":{{flood.Port}},"action":"drop","comment":"flood"}""");
            ruleId = rule.GetProperty("id").GetInt32();
            Shell.WaitFor(() => Hits(node, ruleId), h => h > 200, "the rule dropping the flood");
            _ns.Ping(2);
            Shell.WaitFor(() => node.GetJson($"/api/connections?protocol=icmp&address={_ns.PeerAddress}"),
                j => j.GetArrayLength() == 1 && j[0].GetProperty("packets").GetUInt64() == 4, "the ping flow before the kill");
            flood.ResetCount();

            node.Signal("KILL");
            Assert.True(node.WaitForExit(10));
        }
        // Dead node, pinned datapath: still attached and still dropping.
        Assert.NotEqual(0u, NetInterface.XdpProgramId(_ns.HostIndex));
        Assert.Single(NetInterface.TcxProgramIds(_ns.HostIndex, BpfAttachKind.TcxEgress));
        Assert.True(File.Exists(Path.Combine(PinDir, "link-xdp")), "the XDP link is pinned");
        var (packetsBefore, _) = PinnedHits(ruleId);
        Assert.True(packetsBefore > 200, $"the pinned rule counted {packetsBefore}");
        hitsBeforeKill = packetsBefore;
        Shell.WaitFor(() => PinnedHits(ruleId).Packets, p => p > packetsBefore + 100, "the dead node's pinned program still dropping the flood");

        using (var restarted = Start())
        {
            Shell.WaitFor(() => restarted.Output, o => o.Contains("adopted the pinned datapath"), "the restart saying it adopted the datapath");
            // Flows and counters went on: the ping flow from before the kill is there with its packets; the hits only grew.
            var ping = restarted.GetJson($"/api/connections?protocol=icmp&address={_ns.PeerAddress}");
            Assert.Equal(icmpBeforeKill, Assert.Single(ping.EnumerateArray()).GetProperty("packets").GetUInt64());
            var after = Hits(restarted, ruleId);
            Assert.True(after >= hitsBeforeKill, $"hits {after} after the restart, {hitsBeforeKill} before");
            Shell.WaitFor(() => Hits(restarted, ruleId), h => h > after + 100, "the restarted node counting the drops");
            dropped = flood.Received;
            // The rule is the store's, not only the kernel's: the restarted node serves it and the flood stays dropped.
            Assert.Equal(flood.Port, restarted.GetJson($"/api/filters/{ruleId}").GetProperty("dst_port").GetInt32());
        }
        Assert.Equal(0, dropped);
    }

    // Reads a rule's hit counter straight from the pinned maps, summed over CPUs (what the dead node left counting).
    private (ulong Packets, ulong Bytes) PinnedHits(int ruleId)
    {
        var mapsDir = Assert.Single(Directory.GetDirectories(PinDir, "maps-*"));
        using var active = BpfMap.OpenPinned(Path.Combine(mapsDir, "ps_filter_active_gen"));
        using var gens = BpfMap.OpenPinned(Path.Combine(mapsDir, "ps_filter_gens"));
        using var rules = BpfMap.OpenPinned(Path.Combine(mapsDir, "ps_filter_rules"));
        using var hits = BpfMap.OpenPinned(Path.Combine(mapsDir, "ps_filter_hits"));
        Assert.True(active.TryLookup(0u, out Native.Shared.ps_filter_active gen));
        Assert.True(gens.TryLookup(gen.gen, out Native.Shared.ps_filter_gen header));
        for (var i = 0u; i < header.rules; i++)
        {
            Assert.True(rules.TryLookup(gen.gen * Native.Shared.FilterShared.MaxRules + i, out Native.Shared.ps_filter_rule rule));
            if (rule.id != ruleId)
                continue;
            var perCpu = new Native.Shared.ps_filter_hit[Libbpf.PossibleCpus];
            Assert.True(hits.TryLookupPerCpu((uint)rule.slot, perCpu.AsSpan()));
            return ((ulong)perCpu.Sum(h => (decimal)h.packets), (ulong)perCpu.Sum(h => (decimal)h.bytes));
        }
        throw new InvalidOperationException($"rule {ruleId} is not in the pinned tables");
    }

    [Fact]
    public async Task Should_replace_a_pinned_datapath_of_another_layout_in_place_without_letting_a_dropped_packet_through()
    {
        using var flood = new Flood(_ns);
        using (var node = Start(maxFlows: "65536"))
        {
            Shell.WaitFor(() => flood.Received, n => n > 200, "the flood arriving while no rule drops it");
            var rule = await AddRule(node, $$"""{"rule_type":"udp","protocol":"udp","dst_port":{{flood.Port}},"action":"drop"}""");
            Shell.WaitFor(() => Hits(node, rule.GetProperty("id").GetInt32()), h => h > 100, "the rule dropping the flood");
            flood.ResetCount();
            node.Signal("KILL");
            Assert.True(node.WaitForExit(10));
        }
        var oldMaps = Assert.Single(Directory.GetDirectories(PinDir, "maps-*"));

        // Another flow-table size is another layout: the pinned maps cannot be taken over, the programs are replaced.
        long passed;
        using (var restarted = Start(maxFlows: "32768"))
        {
            Shell.WaitFor(() => restarted.Output, o => o.Contains("replaced the pinned datapath"), "the restart saying it replaced the datapath");
            Assert.False(Directory.Exists(oldMaps), "the old layout's maps are removed");
            var now = Assert.Single(Directory.GetDirectories(PinDir, "maps-*"));
            Assert.NotEqual(oldMaps, now);
            var stats = restarted.GetJson("/api/stats");
            Assert.Equal(32768u, stats.GetProperty("interfaces")[0].GetProperty("flows").GetProperty("capacity").GetUInt32());
            Shell.WaitFor(() => restarted.GetJson("/api/filters")[0].GetProperty("hits").GetProperty("packets").GetUInt64(), h => h > 100,
                "the new program dropping the flood");
            passed = flood.Received; // before the node stops: a stop detaches, and the flood then passes
        }
        Assert.Equal(0, passed);
    }

    [Fact]
    public void Should_detach_a_leftover_with_the_detach_command_and_leave_nothing_pinned()
    {
        using (var node = Start())
        {
            node.Signal("KILL");
            Assert.True(node.WaitForExit(10));
        }
        Assert.NotEqual(0u, NetInterface.XdpProgramId(_ns.HostIndex));

        var (code, output, error) = Shell.TryRun("dotnet", NodeProcess.NodeDll, "--detach", _ns.HostInterface);
        Assert.True(code == 0, output + error);
        Assert.Contains($"{_ns.HostInterface}: removed {PinDir}", output);
        Assert.Contains("link-xdp", output);
        Assert.Equal(0u, NetInterface.XdpProgramId(_ns.HostIndex));
        Assert.Empty(NetInterface.TcxProgramIds(_ns.HostIndex, BpfAttachKind.TcxEgress));
        Assert.False(Directory.Exists(PinDir));

        (code, output, _) = Shell.TryRun("dotnet", NodeProcess.NodeDll, "--detach", _ns.HostInterface);
        Assert.Equal(0, code);
        Assert.Contains("nothing pinned", output);
    }

    [Fact]
    public void Should_unpin_everything_on_a_stop_signal()
    {
        using var node = Start();
        Assert.True(Directory.Exists(PinDir));
        node.Signal("TERM");
        Assert.True(node.WaitForExit(20));
        Assert.Equal(0, node.ExitCode);
        Assert.False(Directory.Exists(PinDir), "SIGTERM removes the pins");
        Assert.Equal(0u, NetInterface.XdpProgramId(_ns.HostIndex));
    }

    [Fact]
    public async Task Should_enforce_and_serve_the_last_known_rules_when_it_restarts_while_the_seed_is_down()
    {
        int id;
        using (var node = Start())
        {
            var rule = await AddRule(node, """{"rule_type":"icmp","protocol":"icmp","icmp_type":8,"action":"drop","comment":"no pings"}""");
            id = rule.GetProperty("id").GetInt32();
            Shell.WaitFor(() => _ns.PingFromPeer(1), ok => !ok, "the rule blocking pings");
            node.Signal("TERM"); // a clean stop: everything detached, the rules kept on disk
            Assert.True(node.WaitForExit(20));
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_data, "rules-last-known")));
        Assert.True(_ns.PingFromPeer(1), "nothing attached after the stop");

        // Its seed is down: it does not give up after the join timeout, it enforces and serves the last known rules.
        var nobody = Ports.Free();
        using var restarted = NodeProcess.Start(["--iface", _ns.HostInterface, "--interval", "0.2", "--max-flows", "65536", "--data", _data,
            "--api-token", Token, "--seed", $"127.0.0.1:{nobody}", "--join-timeout", "2"]);
        restarted.WaitReady(45);
        Assert.False(_ns.PingFromPeer(2), "the last known rule drops pings");
        Shell.WaitFor(() => restarted.Output, o => o.Contains("enforcing the last known rule set"), "the node saying it enforces the last known rules");
        using var response = await restarted.Http.GetAsync("/api/filters");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("true", response.Headers.GetValues("X-Rule-Set-Stale").Single());
        var rules = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(id, Assert.Single(rules.EnumerateArray()).GetProperty("id").GetInt32());
        Assert.True(restarted.GetJson("/api/health").GetProperty("filters").GetProperty("stale").GetBoolean());
        Assert.False(restarted.HasExited);
    }
}
