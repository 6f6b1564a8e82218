// GET /api/connections, /api/icmp, /api/stats over the cluster (ClusterViewActor); /api/health from this node's view actor.
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Views;
using PacketScope.Messages;
using PacketScope.Web.Hosting;

namespace PacketScope.Web.Api;

public static class ConnectionsApi
{
    private static readonly TimeSpan s_askTimeout = TimeSpan.FromSeconds(10);

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // Keep "->" in the seed's key strings readable; the content type is JSON, never HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DictionaryKeyPolicy = null,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    // The /api group. A view too busy to answer (or a node shutting down) is a 503 to retry, not a 500.
    internal static RouteGroupBuilder ApiGroup(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.AddEndpointFilter(async (context, next) =>
        {
            try
            {
                return await next(context);
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                return Results.Json(new ApiError("the node did not answer in time; retry"), Json, statusCode: 503);
            }
        });
        return api;
    }

    // Each asks every sensor of the cluster (or the one named by ?node=NAME) through this node's ClusterViewActor;
    // the shapes, X-Nodes-Missing and the 404 for an unknown node are described in ClusterApi.cs.
    public static IEndpointRouteBuilder MapConnectionsApi(this IEndpointRouteBuilder app)
    {
        var api = ApiGroup(app);
        api.MapGet("/connections", async (HttpRequest req, IRequiredActor<ClusterViewActor> cluster, NodeOptions options) =>
        {
            var actor = await cluster.GetAsync();
            var directory = await ClusterApi.DirectoryOf(actor);
            ConnectionQuery query;
            ClusterApi.Scope scope;
            try
            {
                scope = ClusterApi.ScopeOf(QueryParser.Node(req.Query), directory, options);
                query = QueryParser.Connections(req.Query, scope.Interfaces, scope.MonitoredBy);
            }
            catch (BadRequestException e) { return e.ToResult(); }
            if (scope.Unknown)
                return ClusterApi.UnknownNode(scope.Node!, directory);
            var response = await actor.Ask<ClusterConnectionsResponse>(new GetClusterConnections(query, scope.Node), s_askTimeout);
            // A top-level array, as the seed's clients expect; the count before the limit goes in a header.
            ClusterApi.SetTotal(req.HttpContext.Response, response.Total);
            ClusterApi.SetMissing(req.HttpContext.Response, response.Missing);
            return Results.Json(response.Connections, Json);
        });
        api.MapGet("/icmp", async (HttpRequest req, IRequiredActor<ClusterViewActor> cluster, NodeOptions options) =>
        {
            var actor = await cluster.GetAsync();
            var directory = await ClusterApi.DirectoryOf(actor);
            IcmpQuery query;
            ClusterApi.Scope scope;
            try
            {
                scope = ClusterApi.ScopeOf(QueryParser.Node(req.Query), directory, options);
                query = QueryParser.Icmp(req.Query, scope.Interfaces, scope.MonitoredBy);
            }
            catch (BadRequestException e) { return e.ToResult(); }
            if (scope.Unknown)
                return ClusterApi.UnknownNode(scope.Node!, directory);
            var response = await actor.Ask<ClusterIcmpResponse>(new GetClusterIcmp(query, scope.Node), s_askTimeout);
            ClusterApi.SetTotal(req.HttpContext.Response, response.Total);
            ClusterApi.SetMissing(req.HttpContext.Response, response.Missing);
            return Results.Json(response.Messages, Json);
        });
        api.MapGet("/stats", async (HttpRequest req, IRequiredActor<ClusterViewActor> cluster) =>
        {
            string? node;
            try { node = QueryParser.Stats(req.Query); }
            catch (BadRequestException e) { return e.ToResult(); }
            var actor = await cluster.GetAsync();
            if (node is not null)
            {
                var directory = await ClusterApi.DirectoryOf(actor);
                if (directory.Nodes.All(n => n.Node != node))
                    return ClusterApi.UnknownNode(node, directory);
            }
            var response = await actor.Ask<ClusterStatsResponse>(new GetClusterStats(node), s_askTimeout);
            ClusterApi.SetMissing(req.HttpContext.Response, response.Missing);
            if (node is null)
                return Results.Json(ClusterApi.StatsJson(response, DateTimeOffset.UtcNow), Json);
            // One node asked: its own object, as before the cluster; without an answer there is nothing to show.
            return response.Nodes.Count == 1
                ? Results.Json(ClusterApi.NodeStatsJson(response.Nodes[0]), Json)
                : Results.Json(new ApiError($"node '{node}' did not answer in time; retry"), Json, statusCode: 503);
        });
        return app;
    }

    /// <summary>/api/health, on every node (a node without the web role serves only this).</summary>
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        var api = ApiGroup(app);
        api.MapGet("/health", async (IRequiredActor<NodeViewActor> view, GuardState guard, NodeOptions options, NodeReadiness readiness) =>
        {
            // Ready as the data endpoints are (ReadinessGate): the node's start-up has seen everything attached, with rules.
            var started = readiness.IsReady;
            var actor = await view.GetAsync();
            var status = await actor.Ask<NodeStatus>(GetNodeStatus.Instance, s_askTimeout);
            // Ready: every interface attached, with the stored filter rules in its kernel tables.
            var rulesIn = guard.AppliedEverywhere(options.Interfaces) && started;
            var body = JsonSerializer.SerializeToNode(status with { Ready = status.Ready && rulesIn }, Json)!.AsObject();
            body["filters"] = new System.Text.Json.Nodes.JsonObject
            {
                ["version"] = guard.Current?.Version,
                // The last known rules from this node's disk: the rule store has not answered since the start.
                ["stale"] = guard.Stale,
                ["applied"] = new System.Text.Json.Nodes.JsonObject(guard.Applied.Select(a =>
                    KeyValuePair.Create(a.Key, (System.Text.Json.Nodes.JsonNode?)a.Value))),
            };
            return Results.Json(body, Json, statusCode: status.Ready && rulesIn ? 200 : 503);
        });
        return app;
    }
}
