// Real node processes forming one cluster on loopback: each monitors the host side of its own veth
// pair, whose peer sits in its own network namespace. Node i keeps its ports, data directory and
// namespace across a restart, so a restarted node comes back at the same address.
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PacketScope.Testing;
using Xunit;

namespace PacketScope.Kernel.Tests.Fixtures;

public sealed class ClusterNodes : IDisposable
{
    public const string Token = "cluster-test-token-0123456789abcdef";

    private readonly NodeSlot[] _slots;

    public sealed class NodeSlot
    {
        public required int Index { get; init; }
        public required VethNamespace Namespace { get; init; }
        public required string Data { get; init; }
        // Picked at the first start (not long before: another test could take a port meanwhile), kept for restarts.
        public int ApiPort { get; set; }
        public int ClusterPort { get; set; }
        public string Name => $"n{Index + 1}";
        public NodeProcess? Process { get; set; }
        public string Seed => $"127.0.0.1:{ClusterPort}";
    }

    public ClusterNodes(int count)
    {
        _slots = new NodeSlot[count];
        try
        {
            for (var i = 0; i < count; i++)
                _slots[i] = new NodeSlot
                {
                    Index = i,
                    Namespace = VethNamespace.Create(),
                    Data = Path.Combine(Path.GetTempPath(), $"ps-cluster-{Guid.NewGuid():N}"),
                };
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public NodeSlot this[int i] => _slots[i];

    public NodeProcess Node(int i) => _slots[i].Process ?? throw new InvalidOperationException($"node {i + 1} is not running");

    /// <summary>Starts node i (not waiting for it), joining through the given seed slots (none: it forms the cluster).</summary>
    public NodeProcess Start(int i, IEnumerable<int> seeds, params string[] extra)
    {
        var slot = _slots[i];
        if (slot.ClusterPort == 0)
        {
            slot.ApiPort = Ports.Free();
            slot.ClusterPort = Ports.Free();
        }
        var args = new List<string>
        {
            "--iface", slot.Namespace.HostInterface, "--max-flows", "4096", "--data", slot.Data, "--node-name", slot.Name,
            "--cluster-port", slot.ClusterPort.ToString(CultureInfo.InvariantCulture), "--api-token", Token,
        };
        foreach (var s in seeds)
            args.AddRange(["--seed", _slots[s].Seed]);
        args.AddRange(extra);
        slot.Process?.Dispose();
        slot.Process = NodeProcess.Start(args, port: slot.ApiPort);
        return slot.Process;
    }

    /// <summary>Stops node i: SIGTERM (it leaves the cluster) or SIGKILL (it just vanishes).</summary>
    public void Stop(int i, bool kill = false)
    {
        var node = Node(i);
        node.Signal(kill ? "KILL" : "TERM");
        Assert.True(node.WaitForExit(30), $"node {i + 1} did not exit:\n{node.Output}");
        node.Dispose();
        _slots[i].Process = null;
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseHeaders Headers)> Send(NodeProcess node, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var response = await node.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response.Headers);
    }

    /// <summary>
    /// From a seed's log: how long after it first turned away a new incarnation of the node at <paramref name="clusterPort"/>
    /// (downing the old one) it let that node join; null if it never turned it away (the old one was already removed).
    /// </summary>
    public static TimeSpan? RejoinDelay(string seedOutput, int clusterPort)
    {
        var address = $"akka.tcp://packetscope@127.0.0.1:{clusterPort.ToString(CultureInfo.InvariantCulture)}";
        DateTime? refused = null;
        foreach (var line in seedOutput.Split('\n'))
        {
            if (refused is null && line.Contains($"New incarnation of existing member [UniqueAddress: ({address},", StringComparison.Ordinal))
                refused = AkkaTime(line);
            else if (refused is not null && line.Contains($"Node [{address}] is JOINING", StringComparison.Ordinal))
                return AkkaTime(line) - refused.Value;
        }
        Assert.True(refused is null, $"the seed turned away {address} and never let it join:\n{seedOutput}");
        return null;
    }

    /// <summary>The timestamp Akka's log puts on a line: [INFO][12/04/2026 03:16:56.031Z].</summary>
    private static DateTime AkkaTime(string line)
    {
        var m = System.Text.RegularExpressions.Regex.Match(line, @"\]\[(\d\d/\d\d/\d{4} \d\d:\d\d:\d\d\.\d+)Z\]");
        Assert.True(m.Success, $"no Akka timestamp in: {line}");
        return DateTime.ParseExact(m.Groups[1].Value, "MM/dd/yyyy HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture);
    }

    /// <summary>The rule-set version node's kernel classifies by (from /api/health; -1: none yet).</summary>
    public static long AppliedVersion(NodeProcess node)
    {
        try
        {
            using var response = node.Http.GetAsync("/api/health").Result;
            var body = JsonDocument.Parse(response.Content.ReadAsStringAsync().Result).RootElement;
            var applied = body.GetProperty("filters").GetProperty("applied");
            var versions = applied.EnumerateObject().Select(p => p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetInt64() : -1).ToList();
            return versions.Count == 0 ? -1 : versions.Min();
        }
        catch (Exception e) when (e is AggregateException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return -1; // not answering yet, or no filters section yet
        }
    }

    /// <summary>Waits until node i's kernel classifies by rule-set version <paramref name="version"/> or newer.</summary>
    public void WaitApplied(int i, long version, double timeoutSeconds = 20) =>
        Shell.WaitFor(() => AppliedVersion(Node(i)), v => v >= version, $"rule set version {version} in node {i + 1}'s kernel", timeoutSeconds);

    public void Dispose()
    {
        foreach (var slot in _slots)
        {
            if (slot is null)
                continue;
            slot.Process?.Dispose();
            slot.Namespace.Dispose();
            if (Directory.Exists(slot.Data))
                Directory.Delete(slot.Data, recursive: true);
        }
    }
}
