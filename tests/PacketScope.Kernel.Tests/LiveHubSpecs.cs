// The dashboard's live feed through the .NET SignalR client against the real node: pushed flows, stats, members
// and rules with hit counters; rule changes through the hub with the REST API's validation and token.
using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Testing;
using Xunit;

namespace PacketScope.Kernel.Tests;

public sealed class LiveHubSpecs : IAsyncLifetime
{
    private const string Token = "live-hub-test-token-0123456789abcdef";

    private readonly VethNamespace _ns = VethNamespace.Create();
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ps-live-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<(string Kind, JsonElement Payload)> _pushed = new();
    private NodeProcess _node = null!;

    public Task InitializeAsync()
    {
        _node = NodeProcess.Start(["--iface", _ns.HostInterface, "--max-flows", "4096", "--data", _data, "--node-name", "live-1", "--api-token", Token]);
        _node.WaitReady();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _node.Dispose();
        _ns.Dispose();
        if (Directory.Exists(_data))
            Directory.Delete(_data, recursive: true);
        return Task.CompletedTask;
    }

    private async Task<HubConnection> Connect(string? token = null, string? origin = null)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl($"http://127.0.0.1:{_node.Port}/hubs/live", o =>
            {
                if (token is not null)
                    o.AccessTokenProvider = () => Task.FromResult<string?>(token);
                if (origin is not null)
                    o.Headers["Origin"] = origin;
            })
            .Build();
        foreach (var kind in new[] { "Nodes", "Stats", "Flows", "Icmp", "Rules" })
            connection.On<JsonElement>(kind, payload => _pushed.Enqueue((kind, payload)));
        await connection.StartAsync();
        return connection;
    }

    /// <summary>The first push of <paramref name="kind"/> (received from now on) that satisfies the condition.</summary>
    private JsonElement WaitPush(string kind, Func<JsonElement, bool> condition, string what, double seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            while (_pushed.TryDequeue(out var p))
                if (p.Kind == kind && condition(p.Payload))
                    return p.Payload;
            Thread.Sleep(50);
        }
        throw new TimeoutException($"no {kind} push with {what} within {seconds} s:\n{_node.Output}");
    }

    [Fact]
    public async Task Should_push_flows_stats_and_members_of_the_scope_it_follows()
    {
        await using var live = await Connect();
        var scope = await live.InvokeAsync<string>("Subscribe", null, new Dictionary<string, string> { ["protocol"] = "icmp" });
        Assert.StartsWith("*|", scope);

        _ns.PingFromPeer(3);
        var flows = WaitPush("Flows", p => p.GetProperty("flows").EnumerateArray().Any(f => f.GetProperty("orig").GetProperty("packets").GetUInt64() >= 3),
            "the three pings' echo flow");
        Assert.Equal(scope, flows.GetProperty("scope").GetString());
        var echo = flows.GetProperty("flows")[0];
        Assert.Equal("live-1", echo.GetProperty("node").GetString());
        Assert.Equal("ICMP", echo.GetProperty("protocol").GetString());
        Assert.All(flows.GetProperty("flows").EnumerateArray(), f => Assert.Equal("ICMP", f.GetProperty("protocol").GetString())); // the query holds

        var stats = WaitPush("Stats", p => p.GetProperty("stats").GetProperty("interfaces").GetArrayLength() == 1, "this node's interface");
        Assert.Equal(_ns.HostInterface, stats.GetProperty("stats").GetProperty("interfaces")[0].GetProperty("interface").GetString());
        var nodes = WaitPush("Nodes", p => p.GetArrayLength() == 1, "one member");
        Assert.Equal("up", nodes[0].GetProperty("status").GetString());
        WaitPush("Icmp", p => p.GetProperty("messages").EnumerateArray().Any(m => m.GetProperty("type").GetInt32() == 8), "the echo requests");

        // One node, then a query that is refused with its field, then a node that does not exist.
        Assert.StartsWith("live-1|", await live.InvokeAsync<string>("Subscribe", "live-1", null));
        var badLimit = await Assert.ThrowsAsync<HubException>(() => live.InvokeAsync<string>("Subscribe", null, new Dictionary<string, string> { ["limit"] = "0" }));
        Assert.Contains("invalid parameter 'limit'", badLimit.Message);
        var unknown = await Assert.ThrowsAsync<HubException>(() => live.InvokeAsync<string>("Subscribe", "nosuch", null));
        Assert.Contains("invalid parameter 'node'", unknown.Message);
    }

    [Fact]
    public async Task Should_refuse_a_page_from_another_origin_without_the_token()
    {
        // A page on any site the operator's browser opens could reach a node on loopback: WebSockets know no CORS.
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var evil = await Connect(origin: "http://evil.example");
            await evil.InvokeAsync<string>("Subscribe", null, null);
        });
        await using var own = await Connect(origin: $"http://127.0.0.1:{_node.Port}"); // the node's own dashboard
        Assert.StartsWith("*|", await own.InvokeAsync<string>("Subscribe", null, null));
        await using var withToken = await Connect(Token, origin: "http://ops.example");
        Assert.StartsWith("*|", await withToken.InvokeAsync<string>("Subscribe", null, null));
    }

    [Fact]
    public async Task Should_change_rules_with_the_token_validate_them_as_REST_does_and_push_their_hits()
    {
        var rule = JsonDocument.Parse("""{"rule_type":"icmp","icmp_type":8,"comment":"no ping from the hub"}""").RootElement;
        await using (var anonymous = await Connect())
        {
            var refused = await anonymous.InvokeAsync<JsonElement>("AddFilter", rule);
            Assert.Equal(401, refused.GetProperty("status").GetInt32());
        }
        Assert.Equal(0, _node.GetJson("/api/filters").GetArrayLength()); // nothing changed

        await using var live = await Connect(Token);
        var bad = await live.InvokeAsync<JsonElement>("AddFilter", JsonDocument.Parse("""{"rule_type":"basic","src_ip":"10.0.0.999"}""").RootElement);
        Assert.Equal(400, bad.GetProperty("status").GetInt32());
        Assert.Equal("src_ip", bad.GetProperty("body").GetProperty("field").GetString());

        var added = await live.InvokeAsync<JsonElement>("AddFilter", rule);
        Assert.Equal(201, added.GetProperty("status").GetInt32());
        var id = added.GetProperty("body").GetProperty("id").GetInt32();
        var version = added.GetProperty("version").GetInt64();
        Shell.WaitFor(() => ClusterNodes.AppliedVersion(_node), v => v >= version, "the hub's rule in the kernel");
        Assert.False(_ns.PingFromPeer(2));
        var rules = WaitPush("Rules", p => p.GetProperty("rules").EnumerateArray()
            .Any(r => r.GetProperty("id").GetInt32() == id && r.GetProperty("hits").GetProperty("packets").GetInt64() >= 2), "the rule's hits");
        Assert.True(rules.GetProperty("version").GetInt64() >= version);

        var disabled = await live.InvokeAsync<JsonElement>("SetFilterEnabled", id, false);
        Assert.Equal(200, disabled.GetProperty("status").GetInt32());
        Assert.False(disabled.GetProperty("body").GetProperty("enabled").GetBoolean());
        var deleted = await live.InvokeAsync<JsonElement>("DeleteFilter", id);
        Assert.Equal(200, deleted.GetProperty("status").GetInt32());
        Shell.WaitFor(() => ClusterNodes.AppliedVersion(_node), v => v >= deleted.GetProperty("version").GetInt64(), "the deletion in the kernel");
        Assert.True(_ns.PingFromPeer(1));
        var missing = await live.InvokeAsync<JsonElement>("DeleteFilter", id);
        Assert.Equal(404, missing.GetProperty("status").GetInt32());
    }
}
