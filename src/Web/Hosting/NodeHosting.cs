// Composes a node: the actor system (Akka.Hosting), the telemetry bus, the interface and view actors.
using Akka.Actor;
using Akka.Event;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Cluster.Tools.Singleton;
using Akka.Pattern;
using Akka.Hosting;
using Akka.Remote.Hosting;
using PacketScope.Actors.Wire;
using Microsoft.Extensions.DependencyInjection;
using Akka.Persistence.Sql;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Interfaces;
using PacketScope.Actors.Telemetry;
using PacketScope.Actors.Views;
using PacketScope.Native;

namespace PacketScope.Web.Hosting;

public static class NodeHosting
{
    public const string ActorSystemName = "packetscope";
    public const string StoreSingletonName = "filter-store";

    /// <summary>
    /// The journal and snapshot store (Akka.Persistence.Sql has no Hosting package here: HOCON): SQLite under --data
    /// for one node, or one PostgreSQL database a whole cluster shares, so the rule store keeps its history on whichever
    /// node it runs.
    /// </summary>
    public static string PersistenceHocon(NodeOptions options)
    {
        static string Quoted(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        var (connection, provider) = options.Journal switch
        {
            JournalKind.Postgresql => (options.JournalConnection!, "PostgreSQL.15"),
            _ => ("Data Source=" + Path.GetFullPath(Path.Combine(options.DataDirectory, "packetscope.db")), "SQLite.MS"),
        };
        return $$"""
            akka.persistence {
              journal.plugin = "akka.persistence.journal.sql"
              journal.sql { connection-string = {{Quoted(connection)}}, provider-name = "{{provider}}", auto-initialize = true }
              snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
              snapshot-store.sql { connection-string = {{Quoted(connection)}}, provider-name = "{{provider}}", auto-initialize = true }
            }
            """;
    }

    /// <summary>A seed's Akka address; an IPv6 address in brackets.</summary>
    public static string SeedAddress(string host, int port) =>
        $"akka.tcp://{ActorSystemName}@{(host.Contains(':') ? $"[{host}]" : host)}:{port}";

    public static IServiceCollection AddPacketScopeNode(this IServiceCollection services, NodeOptions options, string objectPath)
    {
        var defaults = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "config", "packetscope.conf"));
        // The node pins its datapath: a crash (or a down) leaves the programs enforcing; only an asked-for stop releases them.
        var pins = new DatapathPins();
        var settings = new ConntrackSettings(options.NodeName, options.Interval, options.XdpMode, options.MaxFlows, options.MaxIcmp,
            objectPath, options.FlowIdleTimeout, options.ClosedFlowTimeout) { Pins = pins };
        services.AddSingleton(options);
        services.AddSingleton(pins);
        services.AddSingleton<NodeReadiness>();
        var guard = new GuardState();
        services.AddSingleton(guard);
        var persistence = PersistenceHocon(options);
        services.AddAkka(ActorSystemName, builder =>
        {
            builder
                .AddHocon(defaults, HoconAddMode.Prepend)
                .AddHocon(persistence, HoconAddMode.Prepend)
                .AddHocon(PacketScopeSerializer.Hocon, HoconAddMode.Prepend)
                .AddHocon(SqlPersistence.DefaultConfiguration, HoconAddMode.Append)
                .ConfigureLoggers(loggers =>
                {
                    loggers.LogLevel = Akka.Event.LogLevel.InfoLevel;
                    loggers.ClearLoggers();
                    loggers.AddLoggerFactory();
                })
                .WithRemoting(new RemoteOptions
                {
                    HostName = options.Hostname,
                    PublicHostName = options.PublicHostname ?? options.Hostname,
                    Port = options.ClusterPort,
                })
                .WithClustering(new ClusterOptions
                {
                    Roles = options.Roles.ToArray(),
                    SeedNodes = options.Seeds.Select(s => SeedAddress(s.Host, s.Port)).ToArray(),
                })
                .WithActors((system, registry) =>
                {
                    var cluster = Cluster.Get(system);
                    if (options.Seeds.Count == 0)
                        cluster.Join(cluster.SelfAddress); // no seeds: a cluster of its own, which others may join
                    var mediator = DistributedPubSub.Get(system).Mediator;
                    var bus = new TelemetryBus(system);
                    var view = system.ActorOf(NodeViewActor.Props(options.NodeName, options.IsSensor ? options.Interfaces : [], bus), NodeViewActor.Name);
                    registry.Register<NodeViewActor>(view);
                    registry.Register<ClusterViewActor>(system.ActorOf(ClusterViewActor.Props(options.NodeName, options.Roles,
                        options.IsSensor ? options.Interfaces : [], DateTimeOffset.UtcNow, ClusterViewActor.SoftwareVersion(), view, guard),
                        ClusterViewActor.Name));

                    // The rule store: one in the cluster, on its oldest node, moved when that node leaves. A journal
                    // failure (a locked database, a full disk) stops it: started again, with backoff.
                    var storeProps = BackoffSupervisor.Props(Backoff.OnStop(
                        // Per-node journals: a store starting here adopts what the cluster enforces if its journal differs.
                        FilterStoreActor.Props(mediator: mediator, adopt: options.Journal == JournalKind.Sqlite), "store",
                        TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, maxNrOfRetries: -1));
                    system.ActorOf(ClusterSingletonManager.Props(storeProps, PoisonPill.Instance, ClusterSingletonManagerSettings.Create(system)),
                        StoreSingletonName);
                    var store = system.ActorOf(ClusterSingletonProxy.Props($"/user/{StoreSingletonName}", ClusterSingletonProxySettings.Create(system)),
                        FilterStoreActor.Name);
                    registry.Register<FilterStoreActor>(store);
                    // The rule set this node last had, before any interface attaches: enforced (stale) until the store answers.
                    var lastKnown = new LastKnownRules(Path.Combine(options.DataDirectory, LastKnownRules.FileName), system.Serialization);
                    var log = Akka.Event.Logging.GetLogger(system, "packetscope");
                    if (lastKnown.Load(out var problem) is { } restored)
                    {
                        try
                        {
                            guard.Restore(restored);
                            log.Info("last known rule set version {0} ({1} rules) restored from {2}: enforced until the rule store answers",
                                restored.Version, restored.Rules.Count, lastKnown.Path);
                        }
                        catch (InvalidOperationException e)
                        {
                            log.Warning("the last known rule set in {0} cannot go into the kernel: {1}", lastKnown.Path, e.Message);
                        }
                    }
                    else if (problem is not null)
                        log.Warning(problem);
                    registry.Register<GuardActor>(system.ActorOf(GuardActor.Props(store, guard, mediator, lastKnown), GuardActor.Name));
                    if (!options.IsSensor)
                        return;
                    var interfaces = system.ActorOf(InterfacesActor.Props(options.Interfaces, settings, bus, guard), InterfacesActor.Name);
                    registry.Register<InterfacesActor>(interfaces);
                    // Detach first, while the streams still run, so shutdown is orderly and every link is closed.
                    CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceStop, "detach-interfaces", async () =>
                    {
                        // SIGTERM and SIGINT reach the actor system first, through the CLR's exit hook: a stop the operator
                        // asked for, so the datapath detaches and unpins. A down (or a quarantine) leaves it pinned, enforcing.
                        if (CoordinatedShutdown.Get(system).ShutdownReason is CoordinatedShutdown.ClrExitReason)
                            pins.ReleaseOnStop();
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
