// /hubs/live: the dashboard's live feed (SignalR). A client subscribes to the whole cluster or one node, with an
// optional connection query (the /api/connections parameters, validated the same way); LivePublisher pushes that
// scope's stats, top flows and ICMP messages, plus the members and the rule set with hit counters, at a fixed
// pace. Rule changes go through the same commands as /api/filters and need the same token.
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Primitives;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Views;
using PacketScope.Messages;
using PacketScope.Web.Api;
using PacketScope.Web.Api.Filters;
using PacketScope.Web.Hosting;

namespace PacketScope.Web.Live;

/// <summary>What the server pushes. Payloads have the REST API's JSON shapes (snake_case, the same records).</summary>
public interface ILiveClient
{
    /// <summary>GET /api/nodes.</summary>
    Task Nodes(JsonNode members);

    /// <summary>{"scope", "stats"}: stats is GET /api/stats for the scope (the cluster shape, or one node's).</summary>
    Task Stats(JsonNode update);

    /// <summary>{"scope", "total", "missing", "flows"}: the scope's connection query (top 100 by bytes by default).</summary>
    Task Flows(JsonNode update);

    /// <summary>{"scope", "total", "missing", "messages"}: the scope's newest ICMP messages.</summary>
    Task Icmp(JsonNode update);

    /// <summary>{"version", "rules"}: GET /api/filters, rules with their hit counters on this node.</summary>
    Task Rules(JsonNode update);
}

public sealed class LiveHub(IRequiredActor<ClusterViewActor> cluster, IRequiredActor<FilterStoreActor> store, LiveScopes scopes,
    NodeOptions options, ApiToken token) : Hub<ILiveClient>
{
    /// <summary>The token, from the Authorization header or (browsers' WebSockets carry no headers) the access_token query.</summary>
    private bool HasToken()
    {
        var http = Context.GetHttpContext();
        if (http is null)
            return false;
        if (token.Accepts(http.Request.Headers.Authorization))
            return true;
        return http.Request.Query.TryGetValue("access_token", out var q) && token.Accepts("Bearer " + q);
    }

    public override Task OnConnectedAsync()
    {
        // As REST: reads are open on loopback only; from anywhere else the token is needed for everything.
        var http = Context.GetHttpContext();
        var remote = http?.Connection.RemoteIpAddress is not { } ip || !IPAddress.IsLoopback(ip);
        if (remote && !HasToken())
            throw new HubException("a token is required from beyond loopback: pass it as access_token (see DATA/api-token)");
        // A page whose name resolves to 127.0.0.1 (DNS rebinding) sends its own name as Host: tokenless reads only for the
        // names REST answers to (loopback, the listen address, --allowed-host).
        var host = http?.Request.Host.Host ?? "";
        if (!WebSecurity.IsAllowedHost(host, options) && !HasToken())
            throw new HubException($"this node was reached as '{host}', not as a loopback address: the token is needed");
        // WebSockets know no CORS: any page the operator's browser opens could connect to a node on loopback and read
        // the feed. A page from another origin than the node's own dashboard needs the token.
        var origin = http?.Request.Headers.Origin.ToString();
        if (!string.IsNullOrEmpty(origin) && (!Uri.TryCreate(origin, UriKind.Absolute, out var o) ||
                !string.Equals(o.Authority, http!.Request.Host.Value, StringComparison.OrdinalIgnoreCase)) && !HasToken())
            throw new HubException($"a page from {origin} is not this node's dashboard: it needs the token");
        scopes.Connected(Context.ConnectionId);
        return base.OnConnectedAsync();
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        scopes.Remove(Context.ConnectionId);
        await base.OnDisconnectedAsync(exception);
    }

    /// <summary>
    /// Follows the whole cluster (node null or empty) or one node, with an optional connection query (limit, sort, address,
    /// port, protocol, interface, state, as for /api/connections). Returns the scope's name; a bad query or an unknown node
    /// is a HubException naming the field.
    /// </summary>
    public async Task<string> Subscribe(string? node, Dictionary<string, string>? flowQuery = null)
    {
        node = string.IsNullOrWhiteSpace(node) ? null : node.Trim();
        var view = await cluster.GetAsync();
        var directory = await ClusterApi.DirectoryOf(view);
        var query = new QueryCollection((flowQuery ?? []).ToDictionary(p => p.Key, p => new StringValues(p.Value)));
        ConnectionQuery parsed;
        try
        {
            if (query.ContainsKey("node"))
                throw new BadRequestException("node", "give the node as Subscribe's first argument");
            var scope = ClusterApi.ScopeOf(node, directory, options);
            if (scope.Unknown)
                throw new BadRequestException("node", $"no member of the cluster is named '{node}'");
            parsed = QueryParser.Connections(query, scope.Interfaces, scope.MonitoredBy);
        }
        catch (BadRequestException e)
        {
            throw new HubException($"invalid parameter '{e.Field}': {e.Reason}");
        }
        var subscription = new LiveScope(node, parsed);
        if (!scopes.Set(Context.ConnectionId, subscription, out var previous))
            return subscription.Key; // gone while this ran: nothing to follow
        if (previous is not null && previous.Key != subscription.Key)
            await Groups.RemoveFromGroupAsync(Context.ConnectionId, previous.Key);
        await Groups.AddToGroupAsync(Context.ConnectionId, subscription.Key);
        return subscription.Key;
    }

    public Task<FilterReply> AddFilter(JsonElement rule) =>
        Change(async s => await FilterCommands.Add(s, rule));

    public Task<FilterReply> UpdateFilter(int id, JsonElement changes) =>
        Change(async s => await FilterCommands.Update(s, id, changes));

    public Task<FilterReply> DeleteFilter(int id) =>
        Change(async s => await FilterCommands.Remove(s, id));

    public Task<FilterReply> SetFilterEnabled(int id, bool enabled) =>
        Change(async s => await FilterCommands.SetEnabled(s, id, enabled));

    private async Task<FilterReply> Change(Func<IActorRef, Task<FilterReply>> command)
    {
        if (!HasToken())
            return new FilterReply(401, new ApiError("changes need the token: connect with access_token=<token> (see DATA/api-token)",
                "access_token", "missing or wrong token"), null);
        try
        {
            return await command(await store.GetAsync());
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return new FilterReply(503, new ApiError("the rule store did not answer in time; retry"), null);
        }
    }
}
