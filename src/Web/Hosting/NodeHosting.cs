// Composes a node: the actor system (Akka.Hosting), the telemetry bus, the interface and view actors.
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using PacketScope.Actors.Interfaces;
using PacketScope.Actors.Telemetry;
using PacketScope.Actors.Views;
using PacketScope.Native;

namespace PacketScope.Web.Hosting;

public static class NodeHosting
{
    public const string ActorSystemName = "packetscope";

    public static IServiceCollection AddPacketScopeNode(this IServiceCollection services, NodeOptions options, string objectPath)
    {
        var defaults = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "config", "packetscope.conf"));
        var settings = new ConntrackSettings(options.NodeName, options.Interval, options.XdpMode, options.MaxFlows, options.MaxIcmp,
            objectPath, options.FlowIdleTimeout, options.ClosedFlowTimeout);
        services.AddSingleton(options);
        services.AddAkka(ActorSystemName, builder =>
        {
            builder
                .AddHocon(defaults, HoconAddMode.Prepend)
                .ConfigureLoggers(loggers =>
                {
                    loggers.LogLevel = Akka.Event.LogLevel.InfoLevel;
                    loggers.ClearLoggers();
                    loggers.AddLoggerFactory();
                })
                .WithActors((system, registry) =>
                {
                    var bus = new TelemetryBus(system);
                    var view = system.ActorOf(NodeViewActor.Props(options.NodeName, options.Interfaces, bus), NodeViewActor.Name);
                    registry.Register<NodeViewActor>(view);
                    var interfaces = system.ActorOf(InterfacesActor.Props(options.Interfaces, settings, bus), InterfacesActor.Name);
                    registry.Register<InterfacesActor>(interfaces);
                    // Detach first, while the streams still run, so shutdown is orderly and every link is closed.
                    CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceStop, "detach-interfaces", async () =>
                    {
                        try
                        {
                            await interfaces.GracefulStop(TimeSpan.FromSeconds(10));
                        }
                        catch (TaskCanceledException)
                        {
                            // Timed out: the actor system's termination stops it anyway; links close with their fds.
                        }
                        bus.Complete();
                        return Akka.Done.Instance;
                    });
                });
        });
        return services;
    }
}
