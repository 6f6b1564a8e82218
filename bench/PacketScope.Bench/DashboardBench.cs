// dashboard: (1) the latency from a packet sent in a network namespace until its flow shows in the dashboard's
// connections table in Chromium (median), against the same packet's flow showing in /api/connections (polled), in
// the same invocation. (2) The browser's frame time on the connections page with 50,000 flows in the node (written
// into its running flow table), against the same page with an empty table.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Playwright;
using PacketScope.Bench.Harness;
using PacketScope.Testing;

namespace PacketScope.Bench;

internal static class DashboardBench
{
    private const string Token = "bench-dashboard-token-0123456789abcdef";
    private const string PeerAddress = "10.214.0.2";
    private const string HostAddress = "10.214.0.1";

    public static void Run(Options options) => RunAsync(options).GetAwaiter().GetResult();

    private static async Task RunAsync(Options options)
    {
        var samples = options.Int("samples", 15);
        var flows = options.Int("flows", 50_000);
        var seconds = options.Double("frame-seconds", 10);
        using var veth = Veth.Create();
        var ns = $"psbdash{Environment.ProcessId:x}";
        Shell.Run("ip", "netns", "add", ns);
        using var nsCleanup = Cleanup.Register($"delete namespace {ns}", () => Shell.TryRun("ip", "netns", "del", ns));
        Shell.Run("ip", "link", "set", veth.Sender, "netns", ns);
        Shell.Run("ip", "addr", "add", HostAddress + "/24", "dev", veth.Receiver);
        Shell.Run("ip", "netns", "exec", ns, "ip", "addr", "add", PeerAddress + "/24", "dev", veth.Sender);
        Shell.Run("ip", "netns", "exec", ns, "ip", "link", "set", veth.Sender, "up");
        Shell.Run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");

        var port = Ports.Free();
        var data = Path.Combine(Path.GetTempPath(), $"ps-bench-dash-{Guid.NewGuid():N}");
        var profile = Path.Combine(Path.GetTempPath(), $"ps-bench-chromium-{Guid.NewGuid():N}");
        using var node = Child.StartNode("--iface", veth.Receiver, "--api", $"127.0.0.1:{port}", "--data", data, "--max-flows", (flows * 2).ToString(CultureInfo.InvariantCulture),
            "--cluster-port", Ports.Free().ToString(CultureInfo.InvariantCulture), "--api-token", Token, "--node-name", "dash");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            NodeHttp.WaitHealthy(node, http, TimeSpan.FromSeconds(90));
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchPersistentContextAsync(profile, new BrowserTypeLaunchPersistentContextOptions
            {
                ExecutablePath = "/usr/bin/chromium",
                Headless = true,
                ViewportSize = new ViewportSize { Width = 1600, Height = 1000 },
                Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            });
            var page = await browser.NewPageAsync();
            await page.GotoAsync($"http://127.0.0.1:{port}/#/connections");
            await Assertions.Expect(page.Locator("#live")).ToHaveTextAsync("live", new() { Timeout = 30_000 });
            // Newest first, UDP only: a new flow lands on the first page.
            await page.Locator("#filters select[name=protocol]").SelectOptionAsync("udp");
            await page.Locator("#flows th[data-sort=last_seen]").ClickAsync();

            // (1) latency: a UDP packet to a new port each time, from the namespace.
            var browserMs = new List<double>();
            var restMs = new List<double>();
            for (var i = -2; i < samples; i++) // two warm-ups
            {
                var dport = 20_000 + i + 2;
                var seen = page.WaitForFunctionAsync(
                    $"() => [...document.querySelectorAll('#flows tbody tr')].some(r => r.textContent.includes(':{dport}'))",
                    null, new PageWaitForFunctionOptions { Timeout = 30_000, PollingInterval = 5 });
                // A random moment within the feed's tick: sending right after the last push would always wait a whole tick.
                await Task.Delay(Random.Shared.Next(0, 1000));
                var rest = Task.Run(() => WaitRest(http, dport));
                var t0 = Stopwatch.GetTimestamp();
                Shell.Run("ip", "netns", "exec", ns, "bash", "-c", $"echo x > /dev/udp/{HostAddress}/{dport}");
                await seen;
                var browserLatency = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                var restLatency = await rest - (t0 * 1000.0 / Stopwatch.Frequency);
                if (i < 0)
                    continue;
                browserMs.Add(browserLatency);
                restMs.Add(restLatency);
            }

            // (2) frame time: the connections page (all protocols, by bytes), empty, then with the flows.
            await page.Locator("#filters select[name=protocol]").SelectOptionAsync("");
            await page.Locator("#flows th[data-sort=bytes]").ClickAsync();
            var empty = await FrameTimes(page, seconds);
            ClusterBench.FillFlows(node.Pid, 0, flows);
            await page.WaitForFunctionAsync($"() => /^([0-9]+) flows/.exec(document.querySelector('#count').textContent)?.[1] >= {flows}",
                null, new PageWaitForFunctionOptions { Timeout = 60_000, PollingInterval = 200 });
            var full = await FrameTimes(page, seconds);
            var rows = await page.Locator("#flows tbody tr").CountAsync();

            Console.WriteLine();
            Console.WriteLine($"## dashboard: a packet in the namespace until its flow shows, {samples} samples, median (max)");
            Console.WriteLine();
            Console.Write(new Table("where", "median", "max", "vs REST")
                .Row("/api/connections, polled every 5 ms", Fmt.F(Fmt.Median(restMs), 0) + " ms", Fmt.F(restMs.Max(), 0) + " ms", "1.000")
                .Row("the dashboard's connections table (Chromium)", Fmt.F(Fmt.Median(browserMs), 0) + " ms", Fmt.F(browserMs.Max(), 0) + " ms",
                    Fmt.Ratio(Fmt.Median(browserMs) / Fmt.Median(restMs))));
            Console.WriteLine();
            Console.WriteLine($"## dashboard: frame time of the connections page, {seconds:F0} s of requestAnimationFrame each");
            Console.WriteLine();
            Console.Write(new Table("table", "frames", "median frame", "p99 frame", "longest", "p99 vs empty")
                .Row("empty (0 flows)", empty.Count.ToString(CultureInfo.InvariantCulture), Ms(NodeHttp.Percentile(empty, 50)), Ms(NodeHttp.Percentile(empty, 99)), Ms(empty.Max()), "1.000")
                .Row($"{flows:N0} flows, {rows} rows on the page, live updates", full.Count.ToString(CultureInfo.InvariantCulture), Ms(NodeHttp.Percentile(full, 50)), Ms(NodeHttp.Percentile(full, 99)),
                    Ms(full.Max()), Fmt.Ratio(NodeHttp.Percentile(full, 99) / NodeHttp.Percentile(empty, 99))));
            Console.WriteLine();
            Console.WriteLine("Latency: from just before the packet is sent until the row is in the page's DOM (polled every 5 ms), or until " +
                "/api/connections lists the flow. Both include the node's map read (every --interval, 1 s); the browser adds the live feed's tick (1 s).");
        }
        finally
        {
            node.Stop(TimeSpan.FromSeconds(20));
            foreach (var dir in new[] { data, profile })
                if (Directory.Exists(dir))
                    Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Frame intervals (ms) over the given time, from requestAnimationFrame in the page.</summary>
    private static async Task<List<double>> FrameTimes(IPage page, double seconds)
    {
        var frames = await page.EvaluateAsync<double[]>($$"""
            () => new Promise(done => {
              const times = []; let last = performance.now(); const end = last + {{(seconds * 1000).ToString(CultureInfo.InvariantCulture)}};
              const step = now => { times.push(now - last); last = now; if (now < end) requestAnimationFrame(step); else done(times); };
              requestAnimationFrame(step);
            })
            """);
        return frames.Skip(1).ToList();
    }

    /// <summary>Polls /api/connections until the flow to the port is listed; the Stopwatch time (ms) it was.</summary>
    private static double WaitRest(HttpClient http, int port)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            using var response = http.GetAsync($"/api/connections?protocol=udp&port={port}&limit=1").Result;
            var now = Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;
            if (JsonDocument.Parse(response.Content.ReadAsStringAsync().Result).RootElement.GetArrayLength() > 0)
                return now;
            Thread.Sleep(5);
        }
        throw new TimeoutException($"the flow to port {port} never showed in /api/connections");
    }

    private static string Ms(double ms) => Fmt.F(ms, 1) + " ms";
}
