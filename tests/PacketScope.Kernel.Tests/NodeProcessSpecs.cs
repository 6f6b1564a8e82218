// The node end to end: the real binary on a veth, traffic in a namespace, answers over REST; clean exits.
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Native;
using Xunit;
using PacketScope.Testing;

namespace PacketScope.Kernel.Tests;

public sealed class NodeProcessSpecs : IDisposable
{
    private readonly VethNamespace _ns = VethNamespace.Create();

    public void Dispose()
    {
        _ns.Dispose();
        if (Directory.Exists(_data))
            Directory.Delete(_data, recursive: true);
    }

    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ps-state-{Guid.NewGuid():N}");

    private string[] Args(params string[] extra) =>
        ["--iface", _ns.HostInterface, "--interval", "0.2", "--max-flows", "65536", "--node-name", "node-under-test", "--data", _data, .. extra];

    private void AssertNothingAttached()
    {
        Assert.Equal(0u, NetInterface.XdpProgramId(_ns.HostIndex));
        Assert.Empty(NetInterface.TcxProgramIds(_ns.HostIndex, BpfAttachKind.TcxEgress));
    }

    [Fact]
    public async Task Should_serve_the_connections_ICMP_and_stats_of_real_traffic()
    {
        using var node = NodeProcess.Start(Args());
        node.WaitReady();

        _ns.Ping(3);
        const int size = 123_456;
        using var listener = new TcpListener(_ns.HostAddress, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var server = Task.Run(async () =>
        {
            using var c = await listener.AcceptTcpClientAsync();
            await c.GetStream().CopyToAsync(Stream.Null);
        });
        _ns.InNamespace("bash", "-c", $"head -c {size} /dev/zero > /dev/tcp/{_ns.HostAddress}/{port}");
        await server.WaitAsync(TimeSpan.FromSeconds(10));

        var tcp = Shell.WaitFor(() => node.GetJson($"/api/connections?protocol=tcp&port={port}"),
            j => j.GetArrayLength() == 1 && j[0].GetProperty("state").GetString() == "closed"
                 && j[0].GetProperty("orig").GetProperty("data_bytes").GetUInt64() >= size, "the closed TCP flow in the API");
        var flow = tcp[0];
        Assert.Equal(_ns.PeerAddress.ToString(), flow.GetProperty("src").GetString());
        Assert.Equal(_ns.HostAddress.ToString(), flow.GetProperty("dst").GetString());
        Assert.Equal(port, flow.GetProperty("dst_port").GetInt32());
        Assert.Equal((ulong)size, flow.GetProperty("orig").GetProperty("data_bytes").GetUInt64());
        Assert.Equal("node-under-test", flow.GetProperty("node").GetString());
        Assert.Equal(_ns.HostInterface, flow.GetProperty("interface").GetString());
        Assert.Contains("SYN", flow.GetProperty("orig").GetProperty("tcp_flag_names").EnumerateArray().Select(e => e.GetString()));
        // Sequence state comes from the kernel map at query time.
        Assert.Equal(64, flow.GetProperty("orig").GetProperty("ttl").GetInt32());
        Assert.True(flow.GetProperty("orig").GetProperty("window").GetInt32() > 0);
        Assert.NotEqual(0u, flow.GetProperty("reply").GetProperty("ack").GetUInt32());
        Assert.Equal($"{_ns.PeerAddress}:{flow.GetProperty("src_port").GetInt32()} -> {_ns.HostAddress}:{port} (TCP)", flow.GetProperty("key").GetString());
        Assert.StartsWith("Packets: ", flow.GetProperty("info").GetString());
        Assert.True(DateTimeOffset.TryParse(flow.GetProperty("last_seen").GetString(), out var lastSeen));
        Assert.InRange((DateTimeOffset.UtcNow - lastSeen).TotalSeconds, -1, 30);

        var icmpFlow = Assert.Single(node.GetJson($"/api/connections?protocol=icmp&address={_ns.PeerAddress}").EnumerateArray());
        Assert.Equal(3ul, icmpFlow.GetProperty("orig").GetProperty("packets").GetUInt64());
        Assert.Equal(3ul, icmpFlow.GetProperty("reply").GetProperty("packets").GetUInt64());

        // The ICMP table is read on its own timer: its last reading may predate the third ping for up to an interval.
        var requests = Shell.WaitFor(() => node.GetJson("/api/icmp?type=8"),
            j => j.GetArrayLength() == 1 && j[0].GetProperty("packets").GetUInt64() >= 3, "three echo requests in /api/icmp");
        Assert.Equal(3ul, requests[0].GetProperty("packets").GetUInt64());
        Assert.Equal("egress", requests[0].GetProperty("direction").GetString());
        Assert.Equal("echo_request", requests[0].GetProperty("type_name").GetString());

        var stats = Shell.WaitFor(() => node.GetJson("/api/stats"),
            j => j.GetProperty("interfaces").GetArrayLength() == 1
                 && j.GetProperty("interfaces")[0].GetProperty("egress").GetProperty("icmp").GetProperty("packets").GetUInt64() >= 3
                 && j.GetProperty("interfaces")[0].GetProperty("ingress").GetProperty("tcp").GetProperty("bytes").GetUInt64() > size,
            "the ICMP and TCP packets in /api/stats");
        var iface = stats.GetProperty("interfaces")[0];
        Assert.True(iface.GetProperty("flows").GetProperty("active").GetInt64() >= 2);
        Assert.Equal(0ul, iface.GetProperty("losses").GetProperty("flow_map_full").GetUInt64());

        var bad = await node.Http.GetAsync("/api/connections?limit=0");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var error = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("limit", error.GetProperty("field").GetString());
    }

    [Fact]
    public void Should_track_each_interface_given_with_its_own_tracker()
    {
        using var second = VethNamespace.Create();
        using var node = NodeProcess.Start(Args("--iface", second.HostInterface));
        node.WaitReady();
        var health = node.GetJson("/api/health").GetProperty("interfaces");
        Assert.Equal(2, health.GetArrayLength());
        Assert.All(health.EnumerateArray(), i => Assert.Equal("attached", i.GetProperty("state").GetString()));

        _ns.Ping(2);
        second.Ping(3);
        var first = Shell.WaitFor(() => node.GetJson($"/api/connections?interface={_ns.HostInterface}"), j => j.GetArrayLength() == 1,
            "the first interface's ping");
        var other = Shell.WaitFor(() => node.GetJson($"/api/connections?interface={second.HostInterface}"), j => j.GetArrayLength() == 1,
            "the second interface's ping");
        Assert.Equal(_ns.PeerAddress.ToString(), first[0].GetProperty("dst").GetString());
        Assert.Equal(2ul, first[0].GetProperty("orig").GetProperty("packets").GetUInt64());
        Assert.Equal(second.PeerAddress.ToString(), other[0].GetProperty("dst").GetString());
        Assert.Equal(3ul, other[0].GetProperty("orig").GetProperty("packets").GetUInt64());
        Assert.Equal(2, node.GetJson("/api/connections").GetArrayLength());
        Assert.NotEqual(0u, NetInterface.XdpProgramId(second.HostIndex));
    }

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public void Should_detach_everything_and_exit_0_on_a_stop_signal(string signal)
    {
        using var node = NodeProcess.Start(Args());
        node.WaitReady();
        Assert.NotEqual(0u, NetInterface.XdpProgramId(_ns.HostIndex));
        Assert.Single(NetInterface.TcxProgramIds(_ns.HostIndex, BpfAttachKind.TcxEgress));

        node.Signal(signal);
        Assert.True(node.WaitForExit(20), "the node did not stop within 20 s");
        Assert.True(node.ExitCode == 0, $"exit code {node.ExitCode}; output:\n{node.Output}");
        AssertNothingAttached();
        Assert.Contains("detached", node.Output);
    }

    [Fact]
    public void Should_come_up_in_generic_mode_where_the_driver_refuses_native_and_say_so()
    {
        // A veth whose peer has MTU 60000 refuses native XDP (ERANGE), as virtio_net NICs refuse it (EOPNOTSUPP).
        _ns.InNamespace("ip", "link", "set", "dev", _ns.PeerInterface, "mtu", "60000");
        using var node = NodeProcess.Start(Args());
        node.WaitReady();
        var log = Shell.WaitFor(() => node.Output, o => o.Contains("XDP in generic mode: the driver refused native XDP"), "the fallback in the log");
        Assert.Contains("errno 34", log);
        Assert.Contains("xdpgeneric", Shell.Run("ip", "-d", "link", "show", "dev", _ns.HostInterface));
        var stats = node.GetJson("/api/stats");
        Assert.Equal("generic", stats.GetProperty("interfaces")[0].GetProperty("xdp_mode").GetString());
        var health = node.GetJson("/api/health");
        Assert.Equal("generic", health.GetProperty("interfaces")[0].GetProperty("xdp_mode").GetString());
        _ns.Ping(2);
        Shell.WaitFor(() => node.GetJson("/api/connections?protocol=icmp"),
            j => j.GetArrayLength() == 1 && j[0].GetProperty("packets").GetUInt64() == 4, "the pings tracked in generic mode");
    }

    [Fact]
    public void Should_refuse_native_mode_where_the_driver_refuses_it()
    {
        _ns.InNamespace("ip", "link", "set", "dev", _ns.PeerInterface, "mtu", "60000");
        using var node = NodeProcess.Start(Args("--xdp-mode", "native"));
        Assert.True(node.WaitForExit(45));
        Assert.Equal(1, node.ExitCode);
        Assert.Contains("(native mode): numerical result out of range (errno 34)", node.Output);
        Assert.Contains("try --xdp-mode generic (or auto)", node.Output);
        AssertNothingAttached();
        Assert.False(Directory.Exists(ConntrackProgram.PinDirectory(_ns.HostInterface)), "nothing left pinned");
    }

    [Fact]
    public async Task Should_answer_the_data_endpoints_only_once_every_interface_is_attached()
    {
        using var node = NodeProcess.Start(Args());
        JsonElement first;
        while (true)
        {
            Assert.False(node.HasExited, node.Output);
            HttpResponseMessage response;
            try
            {
                response = await node.Http.GetAsync("/api/stats");
            }
            catch (HttpRequestException)
            {
                continue; // not listening yet
            }
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            if (response.StatusCode == HttpStatusCode.OK)
            {
                first = body;
                break;
            }
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.False(body.GetProperty("ready").GetBoolean());
            Assert.Contains("starting", body.GetProperty("error").GetString());
        }
        // The first answer is complete: the interface is in it, and what is sent right after it is counted.
        Assert.Equal(_ns.HostInterface, Assert.Single(first.GetProperty("interfaces").EnumerateArray()).GetProperty("interface").GetString());
        _ns.Ping(7);
        Shell.WaitFor(() => node.GetJson("/api/connections?protocol=icmp"),
            j => j.GetArrayLength() == 1 && j[0].GetProperty("packets").GetUInt64() == 14, "all 7 pings sent right after the first answer");
    }

    [Fact]
    public void Should_refuse_a_missing_interface_with_one_line_and_exit_1()
    {
        using var node = NodeProcess.Start(["--iface", "psnosuch0"]);
        Assert.True(node.WaitForExit(30));
        Assert.Equal(1, node.ExitCode);
        Assert.Equal("packetscope: interface 'psnosuch0' does not exist: pick one from `ip -br link` and pass it with --iface", node.Output.Trim());
    }

    [Fact]
    public void Should_refuse_a_state_directory_it_cannot_create()
    {
        var file = Path.Combine(Path.GetTempPath(), $"ps-data-{Guid.NewGuid():N}");
        File.WriteAllText(file, "a file, not a directory");
        try
        {
            using var node = NodeProcess.Start(Args("--data", Path.Combine(file, "state")));
            Assert.True(node.WaitForExit(30));
            Assert.Equal(1, node.ExitCode);
            Assert.Contains("cannot create the state directory", node.Output);
            AssertNothingAttached();
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Should_give_up_on_a_seed_where_no_node_runs_with_a_clear_message()
    {
        var nobody = Ports.Free();
        using var node = NodeProcess.Start(Args("--seed", $"127.0.0.1:{nobody}", "--join-timeout", "3"));
        Assert.True(node.WaitForExit(60));
        Assert.Equal(1, node.ExitCode);
        Assert.Contains($"packetscope: could not join the cluster through 127.0.0.1:{nobody} within 3 s", node.Output);
        AssertNothingAttached();
    }

    [Fact]
    public void Should_refuse_a_cluster_port_in_use_with_a_clear_message()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        using var node = NodeProcess.Start(Args("--cluster-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.True(node.WaitForExit(30));
        Assert.Equal(1, node.ExitCode);
        Assert.Equal($"packetscope: cannot listen for the cluster on 127.0.0.1:{port}: the port is in use (another node?); pick another with --cluster-port",
            node.Output.Trim());
        AssertNothingAttached();
    }

    [Fact]
    public void Should_refuse_a_bad_option_with_exit_2()
    {
        using var node = NodeProcess.Start(["--iface", _ns.HostInterface, "--interval", "soon"]);
        Assert.True(node.WaitForExit(30));
        Assert.Equal(2, node.ExitCode);
        Assert.StartsWith("packetscope: --interval: 'soon' is not a number of seconds", node.Output.Trim());
        AssertNothingAttached();
    }

    [Fact]
    public void Should_tell_a_non_root_user_to_run_as_root()
    {
        using var node = NodeProcess.Start(["--iface", _ns.HostInterface], runAs: "65534");
        Assert.True(node.WaitForExit(30));
        Assert.Equal(1, node.ExitCode);
        Assert.Contains("must run as root", node.Output);
        AssertNothingAttached();
    }

    [Fact]
    public void Should_fail_clearly_when_the_API_port_is_taken_and_attach_nothing()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        using var node = NodeProcess.Start(Args(), port: port);
        Assert.True(node.WaitForExit(30));
        Assert.Equal(1, node.ExitCode);
        Assert.Contains($"cannot listen on 127.0.0.1:{port}", node.Output);
        AssertNothingAttached();
    }

    [Fact]
    public void Should_fail_clearly_when_another_XDP_program_holds_the_interface()
    {
        var pass = Path.Combine(AppContext.BaseDirectory, "bpf", "test_xdp_pass.bpf.o");
        Shell.Run("ip", "link", "set", "dev", _ns.HostInterface, "xdpdrv", "obj", pass, "sec", "xdp");
        var foreign = NetInterface.XdpProgramId(_ns.HostIndex);
        using var node = NodeProcess.Start(Args());
        Assert.True(node.WaitForExit(30));
        Assert.Equal(1, node.ExitCode);
        Assert.True(node.Output.Contains("attach XDP program ps_xdp_ingress"), node.Output);
        Assert.Equal(foreign, NetInterface.XdpProgramId(_ns.HostIndex)); // theirs untouched
        Assert.Empty(NetInterface.TcxProgramIds(_ns.HostIndex, BpfAttachKind.TcxEgress));
    }
}
