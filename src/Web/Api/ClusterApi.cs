// GET /api/nodes, and what the cluster-wide endpoints share: which node(s) a query asks, the 404 for a name no member
// has, the X-Nodes-Missing header for nodes that did not answer, and the cluster shape of /api/stats.
//
// /api/nodes: a JSON array, one object per member (and per member removed in the last 10 minutes, status "removed"):
//   {"node": "n1", "address": "akka.tcp://packetscope@10.0.0.1:4053", "roles": ["sensor", "web"], "status": "up",
//    "reachable": true, "self": true, "ready": true, "interfaces": [{"interface": "eth0", "if_index": 2, "state": "attached",
//    "xdp_mode": "native", "error": null, "since": "..."}], "version": "1.0.0+5e1c2a9", "rule_set_version": 4,
//    "started_at": "...", "last_heartbeat": "..."}
// status is the member's (joining, weakly_up, up, leaving, exiting, down, removed), reachable this node's failure
// detector's view; node, ready, interfaces, version, rule_set_version and started_at come from the member's last
// NodeInfo (null and [] until it has answered once); last_heartbeat is when this node last got any answer from it.
//
// /api/stats (whole cluster): {"timestamp": "...", "nodes": ["n1", "n3"], "missing": ["n2"], "interfaces": [{"node": "n1",
// "interface": "eth0", ...the single-node interface object...}]}; /api/stats?node=n1 keeps the single-node object. Both
// start with the seed's flat totals over their interfaces: TotalPackets, TotalBytes, DroppedPackets, MalformedPackets.
//
// A node that did not answer within 3 s (or is unreachable) is left out, never an error: its name is in X-Nodes-Missing
// (comma-separated, percent-encoded), and in "missing" for /api/stats. ?node=NAME naming no member is 404, field "node".
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PacketScope.Actors.Views;
using PacketScope.Messages;
using PacketScope.Web.Hosting;

namespace PacketScope.Web.Api;

public static class ClusterApi
{
    public const string MissingHeader = "X-Nodes-Missing";

    private static readonly TimeSpan s_askTimeout = TimeSpan.FromSeconds(10);

    public static IEndpointRouteBuilder MapNodesApi(this IEndpointRouteBuilder app)
    {
        var api = ConnectionsApi.ApiGroup(app);
        api.MapGet("/nodes", async (HttpRequest req, IRequiredActor<ClusterViewActor> cluster) =>
        {
            if (req.Query.Count > 0)
                return new BadRequestException(req.Query.Keys.First(), "unknown parameter; /api/nodes takes none").ToResult();
            var actor = await cluster.GetAsync();
            // From the poller's last answers (at most a poll interval old): a dead member never makes this wait.
            var response = await actor.Ask<ClusterMembersResponse>(GetClusterMembers.Instance, s_askTimeout);
            return Results.Json(response.Members, ConnectionsApi.Json);
        });
        return app;
    }

    /// <summary>What a query asks: Node null is the whole cluster; Unknown: no member has that name (a 404, after any 400).</summary>
    public sealed record Scope(string? Node, IReadOnlyCollection<string> Interfaces, string MonitoredBy, bool Unknown);

    /// <summary>
    /// The interfaces the <c>interface</c> parameter may name: the named node's, or every node's. This node's own are
    /// always known, so a node whose members have not all answered yet still takes its own.
    /// </summary>
    public static Scope ScopeOf(string? node, ClusterDirectory directory, NodeOptions options)
    {
        var all = directory.Nodes.SelectMany(n => n.Interfaces.Select(i => i.Interface)).Concat(options.Interfaces)
            .ToHashSet(StringComparer.Ordinal);
        if (node is null)
            return new Scope(null, all, "any node of the cluster", false);
        var info = directory.Nodes.FirstOrDefault(n => n.Node == node);
        if (info is null)
            return new Scope(node, all, "any node of the cluster", true);
        var own = node == options.NodeName ? options.Interfaces : [];
        return new Scope(node, info.Interfaces.Select(i => i.Interface).Concat(own).ToHashSet(StringComparer.Ordinal), $"node '{node}'", false);
    }

    public static async Task<ClusterDirectory> DirectoryOf(IActorRef cluster) =>
        await cluster.Ask<ClusterDirectory>(GetClusterDirectory.Instance, s_askTimeout);

    public static IResult UnknownNode(string node, ClusterDirectory directory)
    {
        var reason = $"no member of the cluster is named '{node}' (members: {string.Join(", ", directory.Nodes.Select(n => n.Node).Order(StringComparer.Ordinal))})";
        return Results.Json(new ApiError($"unknown node '{node}': {reason}", "node", reason), ConnectionsApi.Json, statusCode: StatusCodes.Status404NotFound);
    }

    public static void SetMissing(HttpResponse response, IReadOnlyList<string> missing)
    {
        if (missing.Count > 0)
            response.Headers[MissingHeader] = string.Join(",", missing.Select(Uri.EscapeDataString));
    }

    public static void SetTotal(HttpResponse response, long total) =>
        response.Headers["X-Total-Count"] = total.ToString(CultureInfo.InvariantCulture);

    /// <summary>The cluster shape of /api/stats: every node's interfaces in one list, each saying which node it is on.</summary>
    public static JsonObject StatsJson(ClusterStatsResponse response, DateTimeOffset timestamp)
    {
        var interfaces = new JsonArray();
        foreach (var node in response.Nodes)
            foreach (var stats in node.Interfaces)
            {
                var item = JsonSerializer.SerializeToNode(stats, ConnectionsApi.Json)!.AsObject();
                item.Insert(0, "node", node.Node);
                interfaces.Add(item);
            }
        var o = new JsonObject
        {
            ["timestamp"] = JsonSerializer.SerializeToNode(timestamp, ConnectionsApi.Json),
            ["nodes"] = new JsonArray(response.Nodes.Select(n => (JsonNode?)n.Node).ToArray()),
            ["missing"] = new JsonArray(response.Missing.Select(n => (JsonNode?)n).ToArray()),
            ["interfaces"] = interfaces,
        };
        return WithSeedTotals(o, response.Nodes.SelectMany(n => n.Interfaces));
    }

    /// <summary>One node's /api/stats?node= object, with the seed's totals too.</summary>
    public static JsonObject NodeStatsJson(StatsResponse node) =>
        WithSeedTotals(JsonSerializer.SerializeToNode(node, ConnectionsApi.Json)!.AsObject(), node.Interfaces);

    /// <summary>
    /// The seed's flat totals first, which its clients read at the top level (as with key/info on records), summed over the
    /// interfaces: TotalPackets and TotalBytes both hooks saw, DroppedPackets the Guarder dropped (ingress; egress never
    /// filters), MalformedPackets the parser could not read.
    /// </summary>
    public static JsonObject WithSeedTotals(JsonObject o, IEnumerable<InterfaceStats> interfaces)
    {
        ulong packets = 0, bytes = 0, dropped = 0, malformed = 0;
        foreach (var i in interfaces)
            foreach (var hook in new[] { i.Ingress, i.Egress })
            {
                packets += hook.GetValueOrDefault("total")?.Packets ?? 0;
                bytes += hook.GetValueOrDefault("total")?.Bytes ?? 0;
                dropped += hook.GetValueOrDefault("drop")?.Packets ?? 0;
                malformed += hook.GetValueOrDefault("malformed")?.Packets ?? 0;
            }
        o.Insert(0, "TotalPackets", packets);
        o.Insert(1, "TotalBytes", bytes);
        o.Insert(2, "DroppedPackets", dropped);
        o.Insert(3, "MalformedPackets", malformed);
        return o;
    }
}
