// The interface actors on a real veth: attach, lose the device, reload with backoff when it returns.
using Akka.Actor;
using Akka.TestKit.Xunit2;
using PacketScope.Actors.Interfaces;
using PacketScope.Actors.Telemetry;
using PacketScope.Actors.Views;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Messages;
using PacketScope.Native;
using Xunit;
using PacketScope.Testing;

namespace PacketScope.Kernel.Tests;

public sealed class InterfaceSupervisionSpecs : TestKit, IDisposable
{
    private readonly VethNamespace _ns = VethNamespace.Create();

    void IDisposable.Dispose()
    {
        Shutdown();
        _ns.Dispose();
        base.Dispose();
    }

    private InterfaceStatus Status(IActorRef view) =>
        view.Ask<NodeStatus>(GetNodeStatus.Instance, TimeSpan.FromSeconds(3)).Result.Interfaces.Single();

    [Fact]
    public void Should_report_a_lost_interface_and_attach_again_when_it_comes_back()
    {
        var settings = new ConntrackSettings("node", TimeSpan.FromMilliseconds(200), XdpMode.Native, 4096, 1024,
            ConntrackProgram.DefaultObjectPath, TimeSpan.FromSeconds(120), TimeSpan.FromSeconds(10));
        var bus = new TelemetryBus(Sys);
        var view = Sys.ActorOf(NodeViewActor.Props("node", [_ns.HostInterface], bus));
        Sys.ActorOf(InterfacesActor.Props([_ns.HostInterface], settings, bus, new PacketScope.Actors.Guard.GuardState()));

        var first = Shell.WaitFor(() => Status(view), s => s.State == "attached", "the first attach");
        Assert.Equal(_ns.HostIndex, first.IfIndex);
        _ns.Ping(2);
        Shell.WaitFor(() => view.Ask<ConnectionsResponse>(new GetConnections(new ConnectionQuery()), TimeSpan.FromSeconds(3)).Result,
            r => r.Total == 1, "the ping flow in the view");

        _ns.DeleteLink();
        var lost = Shell.WaitFor(() => Status(view), s => s.State == "failed", "the loss to be reported");
        Assert.Contains("disappeared", lost.Error);

        _ns.CreateLink();
        var again = Shell.WaitFor(() => Status(view), s => s.State == "attached", "the re-attach after backoff", timeoutSeconds: 20);
        Assert.Equal(_ns.HostIndex, again.IfIndex);
        Assert.NotEqual(first.IfIndex, again.IfIndex);
        Assert.NotEqual(0u, NetInterface.XdpProgramId(_ns.HostIndex));
        Assert.Single(NetInterface.TcxProgramIds(_ns.HostIndex, BpfAttachKind.TcxEgress));

        // Fresh maps, fresh view: the old flow is gone and new traffic shows up.
        _ns.Ping(3);
        var flows = Shell.WaitFor(() => view.Ask<ConnectionsResponse>(new GetConnections(new ConnectionQuery()), TimeSpan.FromSeconds(3)).Result,
            r => r.Total == 1 && r.Connections[0].Orig.Packets == 3, "only the new ping flow in the view");
        Assert.Equal(3ul, flows.Connections[0].Reply.Packets);
    }
}
