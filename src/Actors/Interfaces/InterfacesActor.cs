// Parent of the InterfaceActors: one per monitored interface, each behind a backoff supervisor.
using Akka.Actor;
using Akka.Pattern;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Telemetry;

namespace PacketScope.Actors.Interfaces;

public sealed class InterfacesActor : ReceiveActor
{
    public const string Name = "interfaces";

    public InterfacesActor(IReadOnlyList<string> interfaces, ConntrackSettings settings, TelemetryBus bus, GuardState guard)
    {
        foreach (var iface in interfaces)
        {
            var child = InterfaceActor.Props(iface, settings, bus, guard);
            // A failing tracker (map read error, child failure) is reloaded after 1 s, 2 s, ... up to 30 s.
            var backoff = BackoffSupervisor.Props(
                Backoff.OnFailure(child, "tracker", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, maxNrOfRetries: -1)
                    .WithSupervisorStrategy(new OneForOneStrategy(_ => Directive.Restart)));
            Context.ActorOf(backoff, InterfaceActor.ActorName(iface));
        }
    }

    public static Props Props(IReadOnlyList<string> interfaces, ConntrackSettings settings, TelemetryBus bus, GuardState guard) =>
        Akka.Actor.Props.Create(() => new InterfacesActor(interfaces, settings, bus, guard));
}
