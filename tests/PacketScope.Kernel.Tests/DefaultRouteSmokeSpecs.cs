// The real binary with no --iface on the machine's own default-route interface (a virtio_net NIC on a cloud VM refuses
// native XDP: auto must come up in generic mode and say so), as `make run` starts it.
using System.Text.Json;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Native;
using PacketScope.Testing;
using Xunit;
using Xunit.Abstractions;

namespace PacketScope.Kernel.Tests;

public sealed class DefaultRouteSmokeSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task Should_start_on_the_default_route_interface_in_the_mode_its_driver_takes_and_detach_on_stop()
    {
        var route = Shell.TryRun("ip", "-o", "route", "show", "default");
        var fields = route.Stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var dev = Array.IndexOf(fields, "dev");
        if (route.Code != 0 || dev < 0 || dev + 1 >= fields.Length)
        {
            output.WriteLine("NOT RUN: this machine has no default route, so there is no default interface to start on");
            return;
        }
        var iface = fields[dev + 1];
        var ifindex = NetInterface.IndexOf(iface);
        if (NetInterface.XdpProgramId(ifindex) != 0)
        {
            output.WriteLine($"NOT RUN: {iface} already has an XDP program of someone else's");
            return;
        }
        var data = Path.Combine(Path.GetTempPath(), $"ps-state-{Guid.NewGuid():N}");
        try
        {
            using var node = NodeProcess.Start(["--interval", "0.5", "--max-flows", "16384", "--data", data, "--node-name", "smoke"]);
            node.WaitReady(60);
            var stats = node.GetJson("/api/stats");
            var only = Assert.Single(stats.GetProperty("interfaces").EnumerateArray());
            Assert.Equal(iface, only.GetProperty("interface").GetString());
            var mode = only.GetProperty("xdp_mode").GetString();
            Assert.True(mode is "native" or "generic", $"xdp_mode {mode}");
            Assert.Equal(mode == "native" ? XdpMode.Native : XdpMode.Generic, BpfProgram.AttachedXdpMode(ifindex));
            Shell.WaitFor(() => node.Output, o => o.Contains($"{iface}: tracking (XDP {mode} ingress"), "the mode in the log");
            if (mode == "generic")
                Assert.Contains($"{iface}: XDP in generic mode: the driver refused native XDP", node.Output);
            output.WriteLine($"{iface} ({File.ReadAllText($"/sys/class/net/{iface}/device/uevent").Split('\n').FirstOrDefault(l => l.StartsWith("DRIVER="))}): XDP {mode}");
            // The dashboard is served, and the node answers for the interface.
            using (var page = await node.Http.GetAsync("/"))
                Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
            Assert.Equal(JsonValueKind.Array, node.GetJson("/api/connections").ValueKind);

            node.Signal("TERM");
            Assert.True(node.WaitForExit(20));
            Assert.Equal(0, node.ExitCode);
            Assert.Equal(0u, NetInterface.XdpProgramId(ifindex));
            Assert.False(Directory.Exists(ConntrackProgram.PinDirectory(iface)));
        }
        finally
        {
            ConntrackProgram.RemovePins(iface); // never leave the machine's own NIC with our program on it
            if (Directory.Exists(data))
                Directory.Delete(data, recursive: true);
        }
    }
}
