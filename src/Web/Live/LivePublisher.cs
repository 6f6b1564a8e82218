// Pushes the live feed at a fixed pace, whatever the traffic: each followed scope's stats, flows and ICMP once per
// tick (one query per scope, shared by every browser following it), the members every other tick, the rule set with
// its hit counters once per tick. A busy host costs the browser the same few updates a second as an idle one.
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PacketScope.Actors.Guard;
using PacketScope.Actors.Views;
using PacketScope.Messages;
using PacketScope.Web.Api;

namespace PacketScope.Web.Live;

public sealed class LivePublisher(IHubContext<LiveHub, ILiveClient> hub, LiveScopes scopes, IRequiredActor<ClusterViewActor> cluster,
    IRequiredActor<FilterStoreActor> store, GuardState guard, ILogger<LivePublisher> log) : BackgroundService
{
    /// <summary>One update per view per tick.</summary>
    public static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan s_askTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_sendTimeout = TimeSpan.FromSeconds(2);

    // A slow browser (a sleeping laptop, a large page on a thin link) must not hold up everyone's feed: a send that has
    // not gone out within s_sendTimeout is left to finish on its own.
    private static Task Send(Task send) => send.WaitAsync(s_sendTimeout).ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
    private static readonly IcmpQuery s_icmp = new(Limit: 100);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(Tick);
        var tick = 0L;
        while (await NextTick(timer, stopping))
        {
            if (scopes.Connections <= 0)
                continue;
            try
            {
                var view = await cluster.GetAsync(stopping);
                var work = new List<Task> { PushRules() };
                if (tick++ % 2 == 0)
                    work.Add(PushNodes(view));
                work.AddRange(scopes.Active.Select(s => PushScope(view, s)));
                await Task.WhenAll(work);
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                // A slow or moving view (the store's node leaving, a node unreachable) skips a tick; the next one tries again.
                // Never the end of the feed: a BackgroundService that throws stops the whole node.
                if (e is AskTimeoutException or TaskCanceledException or OperationCanceledException)
                    log.LogDebug("live feed: a view did not answer in time this tick ({Reason})", e.Message);
                else
                    log.LogWarning(e, "live feed: this tick failed");
            }
        }
    }

    // The node stopping ends the feed quietly (an exception out of ExecuteAsync would be logged as a failure).
    private static async Task<bool> NextTick(PeriodicTimer timer, CancellationToken stopping)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stopping);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task PushNodes(IActorRef view)
    {
        var members = await view.Ask<ClusterMembersResponse>(GetClusterMembers.Instance, s_askTimeout);
        await Send(hub.Clients.All.Nodes(JsonSerializer.SerializeToNode(members.Members, ConnectionsApi.Json)!));
    }

    private async Task PushRules()
    {
        var rules = await (await store.GetAsync()).Ask<FiltersResponse>(GetFilters.Instance, s_askTimeout);
        await Send(hub.Clients.All.Rules(new JsonObject
        {
            ["version"] = rules.Version,
            ["rules"] = FiltersApi.WithHits(rules.Rules, guard),
        }));
    }

    private async Task PushScope(IActorRef view, LiveScope scope)
    {
        var group = hub.Clients.Group(scope.Key);
        var stats = view.Ask<ClusterStatsResponse>(new GetClusterStats(scope.Node), s_askTimeout);
        var flows = view.Ask<ClusterConnectionsResponse>(new GetClusterConnections(scope.Flows, scope.Node), s_askTimeout);
        var icmp = view.Ask<ClusterIcmpResponse>(new GetClusterIcmp(s_icmp, scope.Node), s_askTimeout);
        await Task.WhenAll(stats, flows, icmp);
        var now = DateTimeOffset.UtcNow;
        await Send(group.Stats(new JsonObject
        {
            ["scope"] = scope.Key,
            ["stats"] = scope.Node is null || stats.Result.Nodes.Count != 1
                ? ClusterApi.StatsJson(stats.Result, now)
                : ClusterApi.NodeStatsJson(stats.Result.Nodes[0]),
        }));
        await Send(group.Flows(new JsonObject
        {
            ["scope"] = scope.Key,
            ["total"] = flows.Result.Total,
            ["missing"] = JsonSerializer.SerializeToNode(flows.Result.Missing, ConnectionsApi.Json),
            ["flows"] = JsonSerializer.SerializeToNode(flows.Result.Connections, ConnectionsApi.Json),
        }));
        await Send(group.Icmp(new JsonObject
        {
            ["scope"] = scope.Key,
            ["total"] = icmp.Result.Total,
            ["missing"] = JsonSerializer.SerializeToNode(icmp.Result.Missing, ConnectionsApi.Json),
            ["messages"] = JsonSerializer.SerializeToNode(icmp.Result.Messages, ConnectionsApi.Json),
        }));
    }
}
