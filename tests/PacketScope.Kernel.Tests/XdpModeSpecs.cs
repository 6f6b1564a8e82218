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
}
