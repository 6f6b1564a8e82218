// Composes and runs one PacketScope node: options, preflight checks, actors, REST API; exits non-zero on any start-up error.
using Akka.Actor;
using Akka.Hosting;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Views;
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Web.Api;
using PacketScope.Web.Hosting;

// `packetscope --detach IFACE...`: removes what a node that will not come back left pinned (its XDP and tcx programs
// go on enforcing its last rules until then).
if (args.Length > 0 && args[0].TrimStart('-') == "detach")
    return DetachCommand.Run(args.Skip(1).ToArray());

NodeOptions options;
try
{
    var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
        .ToDictionary(e => (string)e.Key, e => (string?)e.Value);
    options = NodeOptions.Parse(args, env, File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "config", "packetscope.conf")));
    if (options.ShowHelp)
    {
        Console.WriteLine(NodeOptions.Usage);
        return 0;
    }
    if (!options.IsSensor)
        options = options with { Interfaces = [] }; // a pure web node monitors nothing
    else if (options.Interfaces.Count == 0)
    {
        var iface = NodeOptions.DefaultRouteInterface()
            ?? throw new OptionsException("iface", "there is no default route to pick an interface from; pass --iface NAME");
        options = options with { Interfaces = [iface] };
    }
}
catch (OptionsException e)
{
    Console.Error.WriteLine($"packetscope: {e.Message}");
    return 2;
}

var objectPath = ConntrackProgram.DefaultObjectPath;
if (Preflight.Check(options, objectPath) is { } problem)
{
    Console.Error.WriteLine($"packetscope: {problem}");
    return 1;
}

ApiToken token;
string? generatedToken;
try
{
    token = ApiToken.Load(options.DataDirectory, options.ApiToken, out generatedToken);
}
catch (Exception e) when (e is OptionsException or IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"packetscope: {e.Message}");
    return e is OptionsException ? 2 : 1;
}

// The dashboard (web/, built into wwwroot beside the binary) is served by every web-role node.
var webRoot = Path.Combine(AppContext.BaseDirectory, "wwwroot");
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], WebRootPath = Directory.Exists(webRoot) ? webRoot : null });
builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
builder.WebHost.UseKestrel(k => { k.AddServerHeader = false; k.Listen(options.Api); });
builder.Services.AddPacketScopeNode(options, objectPath);
builder.Services.AddSingleton(token);
builder.Services.AddPacketScopeWebSecurity(options);
if (options.IsWeb)
{
    builder.Services.AddSignalR();
    builder.Services.AddSingleton<PacketScope.Web.Live.LiveScopes>();
    builder.Services.AddHostedService<PacketScope.Web.Live.LivePublisher>();
}

var app = builder.Build();
var pins = app.Services.GetRequiredService<PacketScope.Actors.Interfaces.DatapathPins>();
// The host stopping first (SIGTERM, SIGINT, or this program giving up): the interfaces detach and unpin as the actor
// system stops. A node downed by the cluster stops its actor system first, before the host: the pinned datapath then
// stays, enforcing, for the restart to take over.
app.Lifetime.ApplicationStopping.Register(pins.ReleaseOnStop);
// Asked to stop (SIGTERM, SIGINT): a normal end, exit 0. Any other end of a running node came from the cluster.
var signalled = false;
using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => signalled = true);
using var onInt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, _ => signalled = true);
var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("packetscope");
if (options.IsSensor)
    Libbpf.SetLogger(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("libbpf")); // a web-only node needs no libbpf
app.UsePacketScopeWebSecurity(options); // headers, Host check, CORS: before every endpoint
app.UseReadinessGate();
app.MapHealthApi();
if (options.IsWeb)
{
    app.UseDefaultFiles();
    app.UseStaticFiles();
    app.MapConnectionsApi();
    app.MapNodesApi();
    app.MapFiltersApi();
    app.MapHub<PacketScope.Web.Live.LiveHub>("/hubs/live");
}

try
{
    await app.StartAsync();
}
catch (IOException e)
{
    Console.Error.WriteLine($"packetscope: cannot listen on {options.Api}: {e.Message}; pick another with --api HOST:PORT");
    pins.ReleaseOwnOnStop();
    await app.DisposeAsync();
    return 1;
}
catch (Exception e) when (e is not OutOfMemoryException)
{
    // The actor system did not start (a cluster address Akka refuses, a journal it cannot open...): one line, not a trace.
    Console.Error.WriteLine($"packetscope: the node could not start: {e.GetBaseException().Message}");
    pins.ReleaseOwnOnStop();
    await app.DisposeAsync();
    return 1;
}

// A member of the cluster first: joined through a seed (or, with none, a cluster of its own). A node that restarted
// with the rules it last had on its disk enforces them from the start; if it cannot join in time it does not give up
// but goes on, serving them (stale), and keeps trying to join.
var cluster = Akka.Cluster.Cluster.Get(app.Services.GetRequiredService<ActorSystem>());
var guard = app.Services.GetRequiredService<GuardState>();
var joinDeadline = DateTime.UtcNow + options.JoinTimeout;
var joined = true;
while (cluster.SelfMember.Status != Akka.Cluster.MemberStatus.Up)
{
    if (app.Lifetime.ApplicationStopping.IsCancellationRequested)
    {
        await app.WaitForShutdownAsync();
        await app.DisposeAsync();
        return 0;
    }
    var seeds = string.Join(", ", options.Seeds.Select(s => $"{s.Host}:{s.Port}"));
    if (DateTime.UtcNow > joinDeadline && guard.LastKnown is { } known)
    {
        log.LogWarning("could not join the cluster through {Seeds} within {Timeout:0} s: enforcing the last known rule set (version {Version}, stale) "
            + "and still trying to join", seeds, options.JoinTimeout.TotalSeconds, known.Version);
        joined = false;
        break;
    }
    if (DateTime.UtcNow > joinDeadline)
    {
        Console.Error.WriteLine($"packetscope: could not join the cluster through {seeds} " +
            $"within {options.JoinTimeout.TotalSeconds:0} s: check that a node runs there with that --cluster-port, and that it can reach this node at " +
            $"{options.PublicHostname ?? options.Hostname}:{cluster.SelfAddress.Port} (--public-hostname)");
        pins.ReleaseOwnOnStop();
        await app.StopAsync();
        await app.DisposeAsync();
        return 1;
    }
    await Task.Delay(50);
}
if (joined)
    log.LogInformation("member of the cluster at {Address} with roles {Roles}", cluster.SelfAddress, string.Join(", ", options.Roles));

// Ready when every interface is attached with the stored filter rules in its kernel tables; a failure
// during start-up ends the node (everything detached).
var view = await app.Services.GetRequiredService<IRequiredActor<NodeViewActor>>().GetAsync();
var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
var stopping = app.Lifetime.ApplicationStopping;
while (true)
{
    if (stopping.IsCancellationRequested)
    {
        // Stopped (SIGTERM, Ctrl+C) while starting: shut down in order, exit 0 as for any stop.
        await app.WaitForShutdownAsync();
        await app.DisposeAsync();
        return 0;
    }
    NodeStatus status;
    try
    {
        status = await view.Ask<NodeStatus>(GetNodeStatus.Instance, TimeSpan.FromSeconds(5), stopping);
    }
    catch (Exception e) when (e is TaskCanceledException or AskTimeoutException && stopping.IsCancellationRequested)
    {
        continue;
    }
    if (status.Ready && guard.AppliedEverywhere(options.Interfaces))
        break;
    var failed = status.Interfaces.FirstOrDefault(i => i.State == "failed");
    if (failed is not null || DateTime.UtcNow > deadline)
    {
        Console.Error.WriteLine($"packetscope: {failed?.Error ?? (status.Ready
            ? "the stored filter rules were not in the kernel within 30 s; see the log for why"
            : "interfaces did not attach within 30 s")}");
        pins.ReleaseOwnOnStop();
        await app.StopAsync();
        await app.DisposeAsync();
        return 1;
    }
    await Task.Delay(50);
}
app.Services.GetRequiredService<NodeReadiness>().MarkReady();
if (options.Api.Address.Equals(System.Net.IPAddress.Any) || options.Api.Address.Equals(System.Net.IPAddress.IPv6Any))
    log.LogWarning("API listens on all addresses ({Api}); anyone who can reach this host can read it", options.Api);
if (generatedToken is not null)
{
    // Shown this once, on the console only (not the log): changes need it as "Authorization: Bearer <token>".
    Console.WriteLine($"API token for changes (kept in {Path.Combine(options.DataDirectory, ApiToken.FileName)}, shown only now): {generatedToken}");
}
log.LogInformation("PacketScope node {Node} ready: tracking {Interfaces}, API on http://{Api}", options.NodeName,
    options.IsSensor ? string.Join(", ", options.Interfaces) : "nothing (no sensor role)", options.Api);

await app.WaitForShutdownAsync();
// Downed (on the minority side of a partition, or by an operator): the cluster shut the node down, everything
// detached. Exit 3, so a supervisor (systemd Restart=on-failure) starts it again, which rejoins it. Depending on
// whether it first sees itself down in the gossip or quarantined by the others, the shutdown's reason differs: not
// having been asked to stop is what counts.
var downed = !signalled && (CoordinatedShutdown.Get(app.Services.GetRequiredService<ActorSystem>()).ShutdownReason is not null || cluster.IsTerminated);
await app.DisposeAsync();
if (downed)
{
    Console.Error.WriteLine("packetscope: this node was removed from the cluster (downed: the majority could not reach it); restart it to rejoin");
    return 3;
}
return 0;
