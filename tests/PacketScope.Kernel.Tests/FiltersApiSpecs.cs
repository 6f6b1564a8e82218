// /api/filters through the real node: token, validation, ids, changes, and the same rules after a restart.
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Testing;
using Xunit;

namespace PacketScope.Kernel.Tests;

public sealed class FiltersApiSpecs : IDisposable
{
    private readonly VethNamespace _ns = VethNamespace.Create();
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ps-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        _ns.Dispose();
        if (Directory.Exists(_data))
            Directory.Delete(_data, recursive: true);
    }

    private NodeProcess Start()
    {
        var node = NodeProcess.Start(["--iface", _ns.HostInterface, "--max-flows", "4096", "--data", _data]);
        node.WaitReady();
        // The token line, if any, is written before the "ready" log line: wait for that, then the output is settled.
        Shell.WaitFor(() => node.Output, o => o.Contains(" ready: tracking"), "the node's ready line");
        return node;
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> Send(NodeProcess node, HttpMethod method, string path, string? json, string? token)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await node.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task Should_manage_rules_with_the_token_and_keep_them_across_a_restart()
    {
        string token;
        using (var node = Start())
        {
            token = File.ReadAllText(Path.Combine(_data, "api-token")).Trim();
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_data, "api-token")));
            Assert.Contains($"shown only now): {token}", node.Output);
            Assert.Equal(0, node.GetJson("/api/filters").GetArrayLength());

            var telnet = """{"rule_type":"tcp","protocol":"tcp","dst_port":23,"action":"drop","enabled":true,"comment":"Block Telnet"}""";
            var (status, _) = await Send(node, HttpMethod.Post, "/api/filters", telnet, token: null);
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            (status, _) = await Send(node, HttpMethod.Post, "/api/filters", telnet, token: "wrong-token-wrong-token");
            Assert.Equal(HttpStatusCode.Unauthorized, status);

            var (created, rule) = await Send(node, HttpMethod.Post, "/api/filters", telnet, token);
            Assert.Equal(HttpStatusCode.Created, created);
            Assert.Equal(1, rule.GetProperty("id").GetInt32());
            Assert.Equal(23, rule.GetProperty("dst_port").GetInt32());

            var (bad, error) = await Send(node, HttpMethod.Post, "/api/filters", """{"rule_type":"udp","tcp_flags":2}""", token);
            Assert.Equal(HttpStatusCode.BadRequest, bad);
            Assert.Equal("tcp_flags", error.GetProperty("field").GetString());
            var (dup, _) = await Send(node, HttpMethod.Post, "/api/filters", telnet, token);
            Assert.Equal(HttpStatusCode.Conflict, dup);

            var (_, second) = await Send(node, HttpMethod.Post, "/api/filters", """{"rule_type":"icmp","icmp_type":8,"comment":"no ping"}""", token);
            Assert.Equal(2, second.GetProperty("id").GetInt32());
            var (updated, changed) = await Send(node, HttpMethod.Put, "/api/filters/1", """{"id":1,"action":"drop","enabled":false,"comment":"Temporarily disabled"}""", token);
            Assert.Equal(HttpStatusCode.OK, updated);
            Assert.False(changed.GetProperty("enabled").GetBoolean());
            Assert.Equal(23, changed.GetProperty("dst_port").GetInt32()); // fields not given stay
            var (enabled, on) = await Send(node, HttpMethod.Post, "/api/filters/1/enable", null, token);
            Assert.Equal(HttpStatusCode.OK, enabled);
            Assert.True(on.GetProperty("enabled").GetBoolean());
            Assert.Equal(HttpStatusCode.OK, (await Send(node, HttpMethod.Delete, "/api/filters/2", null, token)).Status);
            Assert.Equal(HttpStatusCode.NotFound, (await Send(node, HttpMethod.Delete, "/api/filters/2", null, token)).Status);
            Assert.Equal(HttpStatusCode.BadRequest, (await Send(node, HttpMethod.Get, "/api/filters/abc", null, null)).Status);
            Assert.True(node.GetJson("/api/filters/presets").GetArrayLength() > 10);
        }

        using var restarted = Start();
        Assert.DoesNotContain("shown only now", restarted.Output); // the kept token is not shown again
        var rules = restarted.GetJson("/api/filters");
        var only = Assert.Single(rules.EnumerateArray());
        Assert.Equal(1, only.GetProperty("id").GetInt32());
        Assert.Equal("Temporarily disabled", only.GetProperty("comment").GetString());
        var (status3, third) = await Send(restarted, HttpMethod.Post, "/api/filters", """{"rule_type":"udp","dst_port":"5000-5100"}""", token);
        Assert.Equal(HttpStatusCode.Created, status3);
        Assert.Equal(3, third.GetProperty("id").GetInt32()); // 2 is never reused
        Assert.Equal("5000-5100", third.GetProperty("dst_port").GetString());
    }

    /// <summary>Waits until every interface classifies by the store's latest rule set.</summary>
    private static async Task WaitApplied(NodeProcess node)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            using var response = await node.Http.GetAsync("/api/filters");
            var version = response.Headers.GetValues("X-Rule-Set-Version").Single();
            if (response.Headers.TryGetValues("X-Rule-Set-Applied", out var applied) && applied.Single() == version)
                return;
            Assert.True(DateTime.UtcNow < deadline, $"rule set version {version} not applied within 10 s");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Should_enforce_rules_in_the_kernel_as_they_change_and_before_a_restarted_node_is_ready()
    {
        string token;
        using (var node = Start())
        {
            token = File.ReadAllText(Path.Combine(_data, "api-token")).Trim();
            Assert.True(_ns.PingFromPeer(1));

            var (created, rule) = await Send(node, HttpMethod.Post, "/api/filters", """{"rule_type":"icmp","icmp_type":8,"comment":"no ping"}""", token);
            Assert.Equal(HttpStatusCode.Created, created);
            var id = rule.GetProperty("id").GetInt32();
            await WaitApplied(node);
            Assert.False(_ns.PingFromPeer(3));
            var hits = node.GetJson($"/api/filters/{id}").GetProperty("hits");
            Assert.Equal(3, hits.GetProperty("packets").GetInt64());
            Assert.True(hits.GetProperty("last_hit").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-1));

            Assert.Equal(HttpStatusCode.OK, (await Send(node, HttpMethod.Post, $"/api/filters/{id}/disable", null, token)).Status);
            await WaitApplied(node);
            Assert.True(_ns.PingFromPeer(2));
            Assert.Equal(HttpStatusCode.OK, (await Send(node, HttpMethod.Post, $"/api/filters/{id}/enable", null, token)).Status);
            await WaitApplied(node);
            Assert.False(_ns.PingFromPeer(2));

            // A rejected change leaves the kernel as it was.
            Assert.Equal(HttpStatusCode.BadRequest, (await Send(node, HttpMethod.Put, $"/api/filters/{id}", """{"icmp_type":300}""", token)).Status);
            Assert.False(_ns.PingFromPeer(1));
        }

        using (var restarted = Start())
        {
            // Ready means the stored rules are in the kernel: blocked from the first ping, no waiting.
            Assert.False(_ns.PingFromPeer(2));
            var rule = Assert.Single(restarted.GetJson("/api/filters").EnumerateArray());
            Assert.Equal(1, rule.GetProperty("id").GetInt32());
            Assert.Equal(2, rule.GetProperty("hits").GetProperty("packets").GetInt64()); // a fresh program counts from zero

            Assert.Equal(HttpStatusCode.OK, (await Send(restarted, HttpMethod.Delete, "/api/filters/1", null, token)).Status);
            await WaitApplied(restarted);
            Assert.True(_ns.PingFromPeer(2));
        }
    }

    [Fact]
    public async Task Should_bring_a_burst_of_concurrent_adds_into_the_kernel_at_once_and_keep_every_acknowledged_rule_after_a_restart()
    {
        const int adds = 2_000;
        string token;
        var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<int, string>(); // id -> source address
        var refused = new System.Collections.Concurrent.ConcurrentBag<(int Index, int Conflict)>();
        using (var node = Start())
        {
            token = File.ReadAllText(Path.Combine(_data, "api-token")).Trim();
            // Eight clients; every 50th add repeats the one 25 before it (a 409 naming that rule once it exists).
            static string Address(int i) => $"198.18.{i >> 8 & 0xff}.{i & 0xff}";
            var ids = new int[adds];
            var next = -1;
            long newest = 0;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var acks = new System.Collections.Concurrent.ConcurrentBag<(double At, long Version)>();
            var samples = new System.Collections.Concurrent.ConcurrentQueue<(double At, long Applied)>();
            using var stop = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    using var response = await node.Http.GetAsync("/api/health"); // 503 while a new set is on its way in
                    var health = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
                    samples.Enqueue((clock.Elapsed.TotalMilliseconds,
                        health.GetProperty("filters").GetProperty("applied").EnumerateObject().Select(p => p.Value.GetInt64()).Min()));
                    await Task.Delay(10);
                }
            });
            var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < adds)
                {
                    var source = i % 50 == 49 ? Address(i - 25) : Address(i);
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/api/filters")
                    {
                        Content = new StringContent($$"""{"src_ip":"{{source}}","comment":"burst {{i}}"}""", Encoding.UTF8, "application/json"),
                    };
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                    using var response = await node.Http.SendAsync(request);
                    var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
                    if (response.StatusCode == HttpStatusCode.Conflict)
                    {
                        refused.Add((i, int.Parse(body.GetProperty("error").GetString()!.Split(' ')[4].TrimEnd(','))));
                        continue;
                    }
                    Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                    ids[i] = body.GetProperty("id").GetInt32();
                    Assert.True(acknowledged.TryAdd(ids[i], source));
                    var version = long.Parse(response.Headers.GetValues("X-Rule-Set-Version").Single());
                    acks.Add((clock.Elapsed.TotalMilliseconds, version));
                    long seen;
                    while ((seen = Interlocked.Read(ref newest)) < version && Interlocked.CompareExchange(ref newest, version, seen) != seen)
                    {
                    }
                }
            })).ToArray();
            await Task.WhenAll(clients);
            var answered = DateTime.UtcNow;

            // Ids are exact: one per acknowledged add, never two for one address; a repeat is refused only once its
            // original is stored, and names it (it may also be stored first, if it overtook the original).
            Assert.Equal(acknowledged.Count, acknowledged.Values.Distinct().Count());
            Assert.Equal(Enumerable.Range(1, acknowledged.Count), acknowledged.Keys.Order());
            Assert.All(refused, r => Assert.Equal(Address(r.Index % 50 == 49 ? r.Index - 25 : r.Index), acknowledged[r.Conflict]));
            Assert.Equal(adds / 50, refused.Count);
            Assert.Equal(adds - adds / 50, acknowledged.Count);

            // The kernel has the newest version soon after the last answer, not one version after another.
            await WaitApplied(node);
            var took = DateTime.UtcNow - answered;
            Assert.True(took < TimeSpan.FromSeconds(3), $"the kernel reached the store's version {took.TotalMilliseconds:F0} ms after the last answer");
            // And it stayed close all along: every acknowledged change was in the kernel soon after its answer.
            Shell.WaitFor(() => samples.LastOrDefault().Applied, a => a >= Interlocked.Read(ref newest), "a health sample with the newest version");
            stop.Cancel();
            await sampler;
            var lags = acks.Select(a => samples.First(s => s.At >= a.At && s.Applied >= a.Version).At - a.At).ToList();
            Assert.True(lags.Max() < 3_000, $"a change reached the kernel {lags.Max():F0} ms after its answer (median {lags.Order().ElementAt(lags.Count / 2):F0} ms)");
            using var list = await node.Http.GetAsync("/api/filters");
            Assert.True(long.Parse(list.Headers.GetValues("X-Rule-Set-Applied").Single()) >= Interlocked.Read(ref newest));
        }

        using var restarted = Start();
        var stored = restarted.GetJson("/api/filters").EnumerateArray()
            .ToDictionary(r => r.GetProperty("id").GetInt32(), r => r.GetProperty("src_ip").GetString()!.Split('/')[0]);
        Assert.Equal(acknowledged.OrderBy(a => a.Key), stored.OrderBy(a => a.Key));
    }
}
