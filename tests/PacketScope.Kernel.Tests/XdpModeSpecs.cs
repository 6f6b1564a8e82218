// --xdp-mode: native and generic attach really happen in the mode asked for, and both track.
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Native;
using Xunit;
using PacketScope.Testing;

namespace PacketScope.Kernel.Tests;

public sealed class XdpModeSpecs
{
    [Theory]
    [InlineData(XdpMode.Generic, "xdpgeneric")]
    [InlineData(XdpMode.Native, "prog/xdp id")]
    public void Should_attach_in_the_requested_mode_and_track_in_it(XdpMode mode, string ipLinkShows)
    {
        using var ns = VethNamespace.Create();
        using var tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: 4096, maxIcmp: 1024);
        tracker.Attach(ns.HostInterface, ns.HostIndex, mode);

        var link = Shell.Run("ip", "-d", "link", "show", "dev", ns.HostInterface);
        Assert.Contains(ipLinkShows, link);
        if (mode == XdpMode.Native)
            Assert.DoesNotContain("xdpgeneric", link);
        ns.Ping(2);
        var flow = Assert.Single(Maps.Flows(tracker), f => f.Key.proto == 1);
        Assert.Equal(4ul, flow.Value.side_a.packets + flow.Value.side_b.packets);
    }

    [Fact]
    public void Should_fall_back_to_generic_in_auto_mode_where_the_driver_refuses_native()
    {
        using var ns = VethNamespace.Create();
        ns.InNamespace("ip", "link", "set", "dev", ns.PeerInterface, "mtu", "60000"); // veth: "Peer MTU is too large to set XDP"
        using var tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: 4096, maxIcmp: 1024);
        var outcome = tracker.Attach(ns.HostInterface, ns.HostIndex, XdpMode.Auto);

        Assert.Equal(XdpMode.Generic, outcome.Mode);
        Assert.Contains("errno 34", outcome.Fallback);
        Assert.Equal(XdpMode.Generic, BpfProgram.AttachedXdpMode(ns.HostIndex));
        ns.Ping(2);
        var flow = Assert.Single(Maps.Flows(tracker), f => f.Key.proto == 1);
        Assert.Equal(4ul, flow.Value.side_a.packets + flow.Value.side_b.packets);
    }

    [Fact]
    public void Should_attach_native_in_auto_mode_where_the_driver_takes_it()
    {
        using var ns = VethNamespace.Create();
        using var tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: 4096, maxIcmp: 1024);
        var outcome = tracker.Attach(ns.HostInterface, ns.HostIndex, XdpMode.Auto);
        Assert.Equal(XdpMode.Native, outcome.Mode);
        Assert.Null(outcome.Fallback);
        Assert.Equal(XdpMode.Native, BpfProgram.AttachedXdpMode(ns.HostIndex));
    }

    [Fact]
    public void Should_keep_native_mode_strict_where_the_driver_refuses_it()
    {
        using var ns = VethNamespace.Create();
        ns.InNamespace("ip", "link", "set", "dev", ns.PeerInterface, "mtu", "60000");
        using var tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: 4096, maxIcmp: 1024);
        var e = Assert.Throws<BpfException>(() => tracker.Attach(ns.HostInterface, ns.HostIndex, XdpMode.Native));
        Assert.Equal(BpfException.ERANGE, e.Errno);
        Assert.Null(BpfProgram.AttachedXdpMode(ns.HostIndex));
    }

    [Fact]
    public void Should_never_fall_back_when_another_program_holds_the_interface()
    {
        using var ns = VethNamespace.Create();
        var pass = Path.Combine(AppContext.BaseDirectory, "bpf", "test_xdp_pass.bpf.o");
        Shell.Run("ip", "link", "set", "dev", ns.HostInterface, "xdpdrv", "obj", pass, "sec", "xdp");
        using var tracker = ConntrackProgram.Load(ConntrackProgram.DefaultObjectPath, maxFlows: 4096, maxIcmp: 1024);
        var e = Assert.Throws<BpfException>(() => tracker.Attach(ns.HostInterface, ns.HostIndex, XdpMode.Auto));
        Assert.Equal(BpfException.EBUSY, e.Errno);
        Shell.Run("ip", "link", "set", "dev", ns.HostInterface, "xdpdrv", "off");
    }
}
