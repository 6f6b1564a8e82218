// GET /api/connections, /api/icmp, /api/stats, /api/health: answered by the node's view actor.
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
    private static RouteGroupBuilder ApiGroup(IEndpointRouteBuilder app)
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

    public static IEndpointRouteBuilder MapConnectionsApi(this IEndpointRouteBuilder app)
    {
        var api = ApiGroup(app);
        api.MapGet("/connections", async (HttpRequest req, IRequiredActor<NodeViewActor> view, NodeOptions options) =>
        {
            ConnectionQuery query;
            try { query = QueryParser.Connections(req.Query, options.Interfaces); }
            catch (BadRequestException e) { return e.ToResult(); }
            var actor = await view.GetAsync();
            var response = await actor.Ask<ConnectionsResponse>(new GetConnections(query), s_askTimeout);
            // A top-level array, as the seed's clients expect; the count before the limit goes in a header.
            req.HttpContext.Response.Headers["X-Total-Count"] = response.Total.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Json(response.Connections, Json);
        });
        api.MapGet("/icmp", async (HttpRequest req, IRequiredActor<NodeViewActor> view, NodeOptions options) =>
        {
            IcmpQuery query;
            try { query = QueryParser.Icmp(req.Query, options.Interfaces); }
            catch (BadRequestException e) { return e.ToResult(); }
            var actor = await view.GetAsync();
            var response = await actor.Ask<IcmpResponse>(new GetIcmp(query), s_askTimeout);
            req.HttpContext.Response.Headers["X-Total-Count"] = response.Total.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Json(response.Messages, Json);
        });
        api.MapGet("/stats", async (HttpRequest req, IRequiredActor<NodeViewActor> view) =>
        {
            if (req.Query.Count > 0)
                return new BadRequestException(req.Query.Keys.First(), "unknown parameter; /api/stats takes none").ToResult();
            var actor = await view.GetAsync();
            return Results.Json(await actor.Ask<StatsResponse>(GetStats.Instance, s_askTimeout), Json);
        });
        return app;
    }

    /// <summary>/api/health, on every node (a node without the web role serves only this).</summary>
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        var api = ApiGroup(app);
        api.MapGet("/health", async (IRequiredActor<NodeViewActor> view, GuardState guard, NodeOptions options) =>
        {
            var actor = await view.GetAsync();
            var status = await actor.Ask<NodeStatus>(GetNodeStatus.Instance, s_askTimeout);
            // Ready: every interface attached, with the stored filter rules in its kernel tables.
            var rulesIn = guard.AppliedEverywhere(options.Interfaces);
            var body = JsonSerializer.SerializeToNode(status with { Ready = status.Ready && rulesIn }, Json)!.AsObject();
            body["filters"] = new System.Text.Json.Nodes.JsonObject
            {
                ["version"] = guard.Current?.Version,
                ["applied"] = new System.Text.Json.Nodes.JsonObject(guard.Applied.Select(a =>
                    KeyValuePair.Create(a.Key, (System.Text.Json.Nodes.JsonNode?)a.Value))),
            };
            return Results.Json(body, Json, statusCode: status.Ready && rulesIn ? 200 : 503);
        });
        return app;
    }
}
