// The real node against what an attacker or a foreign front end sends: CORS preflights, DNS-rebinding Host names,
// text that is not Unicode, ids of the wrong kind, lax addresses and numbers; the headers every answer carries, the
// seed's flat totals and AI fields, and state files only the node's user can read.
using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Testing;
using Xunit;

namespace PacketScope.Kernel.Tests;

/// <summary>One node for the read-mostly specs: two listed origins, one allowed host name, a known token.</summary>
public sealed class HostileNode : IDisposable
{
    public const string Token = "hostile-test-token-0123456789abcdef";
    public const string Origin = "http://127.0.0.1:5999";
    public const string AllowedHost = "ui.packetscope.test";

    public VethNamespace Ns { get; } = VethNamespace.Create();
    public string Data { get; } = Path.Combine(Path.GetTempPath(), $"ps-hostile-{Guid.NewGuid():N}");
    public NodeProcess Node { get; }

    public HostileNode()
    {
        Node = NodeProcess.Start(["--iface", Ns.HostInterface, "--max-flows", "4096", "--data", Data, "--node-name", "hostile-1",
            "--api-token", Token, "--cors-origin", Origin, "--cors-origin", "https://other.packetscope.test", "--allowed-host", AllowedHost]);
        Node.WaitReady();
    }

    public void Dispose()
    {
        Node.Dispose();
        Ns.Dispose();
        if (Directory.Exists(Data))
            Directory.Delete(Data, recursive: true);
    }
}

public sealed class HostileRequestSpecs(HostileNode fixture) : IClassFixture<HostileNode>
{
    private NodeProcess Node => fixture.Node;

    private async Task<HttpResponseMessage> Send(HttpMethod method, string path, HttpContent? content = null, string? token = HostileNode.Token,
        string? origin = null, string? host = null, Action<HttpRequestMessage>? more = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (origin is not null)
            request.Headers.Add("Origin", origin);
        if (host is not null)
            request.Headers.Host = host;
        more?.Invoke(request);
        return await Node.Http.SendAsync(request);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> Body(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    private static async Task AssertBadRequest(HttpResponseMessage response, string field)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {text}");
        Assert.Equal(field, JsonDocument.Parse(text).RootElement.GetProperty("field").GetString());
    }

    private async Task<int> AddRule(string json)
    {
        using var response = await Send(HttpMethod.Post, "/api/filters", Json(json));
        var body = await Body(response);
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
        return body.GetProperty("id").GetInt32();
    }

    [Fact]
    public async Task Should_answer_a_listed_origin_s_preflight_with_204_before_the_token_and_tell_no_other_origin_anything()
    {
        void Preflight(HttpRequestMessage r)
        {
            r.Headers.Add("Access-Control-Request-Method", "PUT");
            r.Headers.Add("Access-Control-Request-Headers", "content-type,authorization");
        }

        using var listed = await Send(HttpMethod.Options, "/api/filters/1", token: null, origin: HostileNode.Origin, more: Preflight);
        using var other = await Send(HttpMethod.Options, "/api/filters/1", token: null, origin: "http://127.0.0.1:6000", more: Preflight);
        using var read = await Send(HttpMethod.Get, "/api/stats", token: null, origin: HostileNode.Origin);
        using var otherRead = await Send(HttpMethod.Get, "/api/stats", token: null, origin: "http://evil.example");
        using var change = await Send(HttpMethod.Post, "/api/filters", Json("""{"rule_type":"tcp","dst_port":7}"""), token: null, origin: HostileNode.Origin);

        Assert.Equal(HttpStatusCode.NoContent, listed.StatusCode);
        Assert.Equal(HostileNode.Origin, listed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        var methods = string.Join(",", listed.Headers.GetValues("Access-Control-Allow-Methods"));
        foreach (var m in new[] { "GET", "POST", "PUT", "DELETE" })
            Assert.Contains(m, methods);
        var headers = string.Join(",", listed.Headers.GetValues("Access-Control-Allow-Headers")).ToLowerInvariant();
        Assert.Contains("content-type", headers);
        Assert.Contains("authorization", headers);
        Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal(HostileNode.Origin, read.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.False(otherRead.Headers.Contains("Access-Control-Allow-Origin"));
        // CORS lets the page read answers; it does not stand in for the token (no --cors-allow-changes here).
        Assert.Equal(HttpStatusCode.Unauthorized, change.StatusCode);
        Assert.Equal(HostileNode.Origin, change.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    [Fact]
    public async Task Should_refuse_a_host_name_that_is_not_its_own_unless_the_token_comes_with_it()
    {
        var port = Node.Port;
        foreach (var path in new[] { "/api/filters", "/api/connections", "/api/nodes", "/api/health", "/" })
        {
            using var rebound = await Send(HttpMethod.Get, path, token: null, host: $"evil.example:{port}");
            await AssertBadRequest(rebound, "Host");
        }
        using var withToken = await Send(HttpMethod.Get, "/api/filters", host: $"evil.example:{port}");
        using var localhost = await Send(HttpMethod.Get, "/api/filters", token: null, host: $"localhost:{port}");
        using var allowed = await Send(HttpMethod.Get, "/api/filters", token: null, host: $"{HostileNode.AllowedHost}:{port}");
        using var literal = await Send(HttpMethod.Get, "/api/filters", token: null, host: $"127.0.0.1:{port}");

        Assert.Equal(HttpStatusCode.OK, withToken.StatusCode);
        Assert.Equal(HttpStatusCode.OK, localhost.StatusCode);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, literal.StatusCode);

        // The live hub is behind the same check: a rebinding page cannot even open the feed's WebSocket.
        using var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("Host", $"evil.example:{port}");
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => HubInvoke(ws, $"ws://127.0.0.1:{port}/hubs/live", null));
        Assert.Contains("'400'", refused.Message);
    }

    [Fact]
    public async Task Should_put_security_headers_on_every_answer_and_no_server_header()
    {
        using var dashboard = await Send(HttpMethod.Get, "/", token: null);
        using var api = await Send(HttpMethod.Get, "/api/stats", token: null);
        using var refused = await Send(HttpMethod.Get, "/api/connections?limit=0", token: null);
        using var missing = await Send(HttpMethod.Get, "/no-such-page", token: null);

        foreach (var r in new[] { dashboard, api, refused, missing })
        {
            Assert.Equal("nosniff", r.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Equal("no-referrer", r.Headers.GetValues("Referrer-Policy").Single());
            Assert.Contains("frame-ancestors 'none'", r.Headers.GetValues("Content-Security-Policy").Single());
            Assert.False(r.Headers.Contains("Server"), $"{r.RequestMessage!.RequestUri}: Server {string.Join(",", r.Headers.Server)}");
        }
        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        Assert.Contains("default-src 'self'", dashboard.Headers.GetValues("Content-Security-Policy").Single());
        Assert.False(dashboard.Headers.CacheControl?.NoStore ?? false); // the dashboard's files may be cached
        Assert.True(api.Headers.CacheControl?.NoStore);
        Assert.True(refused.Headers.CacheControl?.NoStore);
        Assert.Contains("default-src 'none'", api.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task Should_refuse_text_that_is_not_Unicode_in_a_rule_with_400_and_the_field_over_REST_and_the_hub()
    {
        var id = await AddRule("""{"rule_type":"tcp","dst_port":2323,"comment":"target"}""");
        var raw = Encoding.UTF8.GetBytes("""{"rule_type":"udp","dst_port":2324,"comment":"X"}""");
        raw[Array.IndexOf(raw, (byte)'X')] = 0xff;

        using var surrogate = await Send(HttpMethod.Post, "/api/filters", Json("""{"rule_type":"udp","dst_port":2324,"comment":"\ud800"}"""));
        using var notUtf8 = await Send(HttpMethod.Post, "/api/filters", new ByteArrayContent(raw) { Headers = { ContentType = new("application/json") } });
        using var putSurrogate = await Send(HttpMethod.Put, $"/api/filters/{id}", Json("""{"comment":"\udfff"}"""));
        using var putName = await Send(HttpMethod.Put, $"/api/filters/{id}", Json("""{"\ud800":1}"""));
        using var putNotUtf8 = await Send(HttpMethod.Put, $"/api/filters/{id}", new ByteArrayContent(raw) { Headers = { ContentType = new("application/json") } });

        await AssertBadRequest(surrogate, "comment");
        await AssertBadRequest(notUtf8, "comment");
        await AssertBadRequest(putSurrogate, "comment");
        await AssertBadRequest(putName, "body");
        await AssertBadRequest(putNotUtf8, "comment");

        // The hub's AddFilter: the same structured answer, not "An unexpected error occurred".
        using var ws = new ClientWebSocket();
        var reply = await HubInvoke(ws, $"ws://127.0.0.1:{Node.Port}/hubs/live?access_token={HostileNode.Token}",
            """{"type":1,"invocationId":"1","target":"AddFilter","arguments":[{"rule_type":"udp","comment":"\ud800"}]}""");
        var result = reply.GetProperty("result");
        Assert.Equal(400, result.GetProperty("status").GetInt32());
        Assert.Equal("comment", result.GetProperty("body").GetProperty("field").GetString());
        Assert.Equal("target", Node.GetJson($"/api/filters/{id}").GetProperty("comment").GetString());
    }

    [Fact]
    public async Task Should_ignore_a_posted_id_and_refuse_a_put_id_that_is_not_the_path_s_number()
    {
        var id = await AddRule("""{"id":999,"rule_type":"tcp","dst_port":2400,"ai_generated":false}""");
        Assert.NotEqual(999, id);

        foreach (var body in new[] { $$"""{"id":"{{id}}"}""", """{"id":null}""", """{"id":true}""", """{"id":{"n":1}}""", $$"""{"id":{{id + 1}}}""", """{"id":1.5}""" })
        {
            using var response = await Send(HttpMethod.Put, $"/api/filters/{id}", Json(body));
            await AssertBadRequest(response, "id");
        }
        using var same = await Send(HttpMethod.Put, $"/api/filters/{id}", Json($$"""{"id":{{id}},"comment":"same id"}"""));
        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        using var nul = await Send(HttpMethod.Put, $"/api/filters/{id}%00", Json("""{"comment":"x"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, nul.StatusCode); // Kestrel refuses a NUL in the path before any route
    }

    [Theory]
    [InlineData("/api/connections?address=10", "address")]
    [InlineData("/api/connections?address=127.1", "address")]
    [InlineData("/api/connections?address=010.1.1.1", "address")]
    [InlineData("/api/connections?address=0x7f.1", "address")]
    [InlineData("/api/connections?address=fe80::1%25eth0", "address")]
    [InlineData("/api/icmp?address=127.1", "address")]
    [InlineData("/api/icmp?address=fe80::1%25eth0", "address")]
    [InlineData("/api/connections?limit=1%00", "limit")]
    [InlineData("/api/icmp?limit=1%00", "limit")]
    [InlineData("/api/connections?port=80%00", "port")]
    public async Task Should_refuse_lax_addresses_and_numbers_in_queries(string path, string field)
    {
        using var response = await Send(HttpMethod.Get, path, token: null);
        await AssertBadRequest(response, field);
    }

    [Fact]
    public void Should_give_the_seed_s_flat_totals_at_the_top_of_stats_for_the_cluster_and_for_one_node()
    {
        // Counted by the pings' own counters: a fresh veth's IPv6 chatter (router solicitations, MLD) also raises
        // TotalPackets, so a reading taken before the pings could pass a wait on TotalPackets alone.
        static ulong Icmp(JsonElement stats) => stats.GetProperty("interfaces").EnumerateArray().Aggregate(0UL, (sum, i) =>
            sum + i.GetProperty("ingress").GetProperty("icmp").GetProperty("packets").GetUInt64()
                + i.GetProperty("egress").GetProperty("icmp").GetProperty("packets").GetUInt64());
        var before = Icmp(Node.GetJson("/api/stats"));
        fixture.Ns.Ping(3);
        Shell.WaitFor(() => Icmp(Node.GetJson("/api/stats")), n => n >= before + 6, "the 6 ping packets counted");

        // ?node= knows a member once the cluster view has heard from it (a poll every 2 s): just after start, it may not yet.
        Shell.WaitFor(() => Node.Http.GetAsync("/api/stats?node=hostile-1").Result.StatusCode, s => s == HttpStatusCode.OK, "the node in the cluster view");
        var cluster = Node.GetJson("/api/stats");
        var one = Node.GetJson("/api/stats?node=hostile-1");
        foreach (var stats in new[] { cluster, one })
        {
            foreach (var name in new[] { "TotalPackets", "TotalBytes", "DroppedPackets", "MalformedPackets" })
                Assert.Equal(JsonValueKind.Number, stats.GetProperty(name).ValueKind);
            Assert.True(stats.GetProperty("TotalBytes").GetUInt64() >= 6 * 84);
            var iface = stats.GetProperty("interfaces").EnumerateArray().Single();
            Assert.True(stats.GetProperty("TotalPackets").GetUInt64() >=
                iface.GetProperty("ingress").GetProperty("total").GetProperty("packets").GetUInt64());
        }
        Assert.Equal("hostile-1", one.GetProperty("node").GetString());
        Assert.Equal(JsonValueKind.Array, cluster.GetProperty("nodes").ValueKind);
    }

    /// <summary>
    /// One SignalR JSON-protocol exchange over a raw WebSocket (no negotiate), so the test sends bytes exactly as written:
    /// the handshake, then <paramref name="invocation"/> (or nothing) and the first completion or close message back.
    /// </summary>
    private static async Task<JsonElement> HubInvoke(ClientWebSocket ws, string url, string? invocation)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await ws.ConnectAsync(new Uri(url), timeout.Token);
        async Task SendText(string text) =>
            await ws.SendAsync(Encoding.UTF8.GetBytes(text + "\u001e"), WebSocketMessageType.Text, true, timeout.Token);
        await SendText("""{"protocol":"json","version":1}""");
        if (invocation is not null)
            await SendText(invocation);
        var buffer = new byte[64 * 1024];
        var pending = new StringBuilder();
        while (true)
        {
            var read = await ws.ReceiveAsync(buffer, timeout.Token);
            if (read.MessageType == WebSocketMessageType.Close)
                throw new InvalidOperationException($"the hub closed the connection: {read.CloseStatusDescription}");
            pending.Append(Encoding.UTF8.GetString(buffer, 0, read.Count));
            var frames = pending.ToString().Split('\u001e');
            pending.Clear().Append(frames[^1]);
            foreach (var frame in frames[..^1].Where(f => f.Length > 0))
            {
                var message = JsonDocument.Parse(frame).RootElement.Clone();
                var type = message.TryGetProperty("type", out var t) ? t.GetInt32() : 0;
                if (type is 3 or 7 || (type == 0 && message.TryGetProperty("error", out _)))
                    return message; // a completion, a close with its error, or a refused handshake
            }
        }
    }
}

/// <summary>--cors-allow-changes: the seed's page (no token) may change rules from loopback; the rules' state and files stay private.</summary>
public sealed class CorsChangesSpecs : IDisposable
{
    private const string Origin = "http://127.0.0.1:5998";
    private readonly VethNamespace _ns = VethNamespace.Create();
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ps-cors-{Guid.NewGuid():N}");

    public void Dispose()
    {
        _ns.Dispose();
        if (Directory.Exists(_data))
            Directory.Delete(_data, recursive: true);
    }

    private NodeProcess Start()
    {
        var node = NodeProcess.Start(["--iface", _ns.HostInterface, "--max-flows", "4096", "--data", _data, "--cors-origin", Origin, "--cors-allow-changes"]);
        node.WaitReady();
        return node;
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> Post(NodeProcess node, string json, string? origin)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/filters") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (origin is not null)
            request.Headers.Add("Origin", origin);
        using var response = await node.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task Should_let_a_listed_origin_change_rules_from_loopback_keep_their_AI_provenance_and_keep_the_files_private()
    {
        using (var node = Start())
        {
            var (created, rule) = await Post(node, """{"id":5,"rule_type":"icmp","icmp_type":8,"action":"drop","enabled":false,"comment":"AI: ping sweep","ai_generated":true,"ai_confidence":0.93,"ai_reason":"400 echo requests a second"}""", Origin);
            var (otherOrigin, _) = await Post(node, """{"rule_type":"tcp","dst_port":9}""", "http://127.0.0.1:6001");
            var (noOrigin, _) = await Post(node, """{"rule_type":"tcp","dst_port":9}""", null);

            Assert.Equal(HttpStatusCode.Created, created);
            Assert.Equal(1, rule.GetProperty("id").GetInt32()); // the posted id is the server's to give
            Assert.True(rule.GetProperty("ai_generated").GetBoolean());
            Assert.Equal(HttpStatusCode.Unauthorized, otherOrigin);
            Assert.Equal(HttpStatusCode.Unauthorized, noOrigin);
        }

        using var restarted = Start();
        var kept = Assert.Single(restarted.GetJson("/api/filters").EnumerateArray());
        Assert.True(kept.GetProperty("ai_generated").GetBoolean());
        Assert.Equal(0.93, kept.GetProperty("ai_confidence").GetDouble());
        Assert.Equal("400 echo requests a second", kept.GetProperty("ai_reason").GetString());

        Assert.Equal(PrivateDirectory, File.GetUnixFileMode(_data));
        var files = Directory.GetFiles(_data);
        Assert.Contains(files, f => f.EndsWith("packetscope.db", StringComparison.Ordinal));
        foreach (var file in files)
            Assert.True(File.GetUnixFileMode(file) == PrivateFile, $"{file} is {File.GetUnixFileMode(file)}");
    }

    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = PrivateFile | UnixFileMode.UserExecute;

    [Fact]
    public void Should_tighten_the_state_files_an_older_version_left_readable()
    {
        Directory.CreateDirectory(_data);
        File.SetUnixFileMode(_data, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead |
            UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var db = Path.Combine(_data, "packetscope.db");
        File.WriteAllBytes(db, []);
        File.SetUnixFileMode(db, PrivateFile | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        using var node = Start();

        Assert.Equal(PrivateDirectory, File.GetUnixFileMode(_data));
        Assert.Equal(PrivateFile, File.GetUnixFileMode(db));
        Assert.Contains("it is 0600 now", node.Output);
        foreach (var file in Directory.GetFiles(_data))
            Assert.True(File.GetUnixFileMode(file) == PrivateFile, $"{file} is {File.GetUnixFileMode(file)}");
    }
}
