// The original PacketScope React front end (built, in ../shared/upstream-frontend; MIT, not ours) in real Chromium against
// a real node started with --cors-origin and --cors-allow-changes: its Guarder pages show real data and manage rules.
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Testing;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace PacketScope.Kernel.Tests;

public sealed class UpstreamFrontendSpecs : IAsyncLifetime
{
    // The page calls http://<its own host>:8080 for the Guarder and :19999 for the Tracer, whatever port it is served
    // from: a loopback address of its own gives this test those fixed ports without colliding with anything else.
    private readonly string _host = $"127.{Random.Shared.Next(100, 250)}.{Random.Shared.Next(1, 250)}.{Random.Shared.Next(1, 250)}";
    private readonly VethNamespace _ns = VethNamespace.Create();
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ps-upstream-{Guid.NewGuid():N}");
    private readonly string _profile = Path.Combine(Path.GetTempPath(), $"ps-chromium-{Guid.NewGuid():N}");
    private readonly List<string> _console = [];
    private StaticSite _page = null!;
    private StaticSite _tracer = null!;
    private NodeProcess _node = null!;
    private IPlaywright _playwright = null!;
    private IBrowserContext _browser = null!;

    /// <summary>../shared/upstream-frontend/dist beside the checkout (CI has shared/ there too), or PACKETSCOPE_UPSTREAM_FRONTEND.</summary>
    private static string Dist()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PacketScope.sln")))
            dir = dir.Parent;
        var dist = Environment.GetEnvironmentVariable("PACKETSCOPE_UPSTREAM_FRONTEND")
                   ?? Path.Combine(dir!.Parent!.FullName, "shared", "upstream-frontend", "dist");
        Assert.True(File.Exists(Path.Combine(dist, "index.html")),
            $"the built upstream front end is not at {dist}: it comes with the project's shared/ folder beside the checkout (or set PACKETSCOPE_UPSTREAM_FRONTEND to its dist/)");
        return dist;
    }

    private static void AssertFree(string host, int port)
    {
        try
        {
            using var probe = new TcpListener(IPAddress.Parse(host), port);
            probe.Start();
        }
        catch (SocketException e)
        {
            Assert.Fail($"{host}:{port} is taken ({e.Message}): something listens on every address at port {port}; the upstream page needs that port");
        }
    }

    public async Task InitializeAsync()
    {
        var dist = Dist();
        AssertFree(_host, 8080);
        AssertFree(_host, 19999);
        _page = StaticSite.Files(_host, Ports.Free(), dist);
        // The Tracer: the app shows nothing until it says it is attached; its other calls get empty lists.
        _tracer = StaticSite.Json(_host, 19999, path => path == "/IsAttachFinished" ? "[true]" : "[]");
        _node = NodeProcess.Start(["--iface", _ns.HostInterface, "--max-flows", "4096", "--data", _data, "--node-name", "upstream-1",
            "--cors-origin", _page.Origin, "--cors-allow-changes"], port: 8080, host: _host);
        _node.WaitReady();
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchPersistentContextAsync(_profile, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Locale = "en-US",
            ViewportSize = new ViewportSize { Width = 1600, Height = 1000 },
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        _node.Dispose();
        _tracer.Dispose();
        _page.Dispose();
        _ns.Dispose();
        foreach (var dir in new[] { _data, _profile })
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
    }

    private async Task<IPage> Open()
    {
        var page = await _browser.NewPageAsync();
        page.Console += (_, m) => { lock (_console) _console.Add($"{m.Type}: {m.Text}"); };
        page.Response += (_, r) => { lock (_console) _console.Add($"{r.Request.Method} {r.Url} -> {r.Status}"); };
        await page.GotoAsync($"{_page.Origin}/#/guarder");
        return page;
    }

    /// <summary>What the page shows must be real numbers and no failure: the seed's page says NaN for a missing field.</summary>
    private static async Task AssertNoFailureShown(IPage page)
    {
        var text = await page.Locator("body").InnerTextAsync();
        Assert.DoesNotContain("NaN", text);
        Assert.DoesNotContain("Failed", text);
        Assert.DoesNotContain("失败", text);
    }

    private async Task<IReadOnlyList<System.Text.Json.JsonElement>> Rules() => _node.GetJson("/api/filters").EnumerateArray().ToList();

    [Fact]
    public async Task Should_show_real_traffic_in_its_connection_monitor_and_list_add_edit_toggle_and_delete_rules()
    {
        var page = await Open();

        // Filter management, first: the page fills an empty store with the seed's ten disabled examples, without the token.
        await Expect(page.GetByText("Total 10 rules")).ToBeVisibleAsync(new() { Timeout = 30_000 });
        Assert.Equal(10, (await Rules()).Count);
        Assert.All(await Rules(), r => Assert.False(r.GetProperty("enabled").GetBoolean()));

        // Add: the form posts the seed's shape (an id of its own, ai_generated): the server gives the id.
        await page.GetByRole(AriaRole.Button, new() { Name = "plus Add Filter" }).ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog, new() { Name = "Add Filter" });
        await Expect(dialog).ToBeVisibleAsync();
        await dialog.Locator(".ant-select-selector", new() { Has = page.Locator("#action") }).ClickAsync();
        await page.Locator(".ant-select-item-option[title=Drop]").ClickAsync();
        await dialog.Locator("#src_ip").FillAsync(_ns.PeerAddress.ToString());
        await dialog.Locator("#dst_port").FillAsync("2222");
        await dialog.Locator("#comment").FillAsync("from the seed's page");
        await dialog.Locator("button.ant-btn-primary").ClickAsync();
        var row = page.Locator("tr", new() { HasText = "from the seed's page" });
        await Expect(row).ToBeVisibleAsync(new() { Timeout = 10_000 });
        var added = Assert.Single(await Rules(), r => r.GetProperty("comment").GetString() == "from the seed's page");
        var id = added.GetProperty("id").GetInt32();
        Assert.Equal(11, id);
        Assert.Equal($"{_ns.PeerAddress}/32", added.GetProperty("src_ip").GetString());
        Assert.Equal(2222, added.GetProperty("dst_port").GetInt32());
        Assert.Equal("drop", added.GetProperty("action").GetString());
        Assert.True(added.GetProperty("enabled").GetBoolean());
        await Expect(row).ToContainTextAsync(_ns.PeerAddress.ToString());

        // Edit: the form holds the rule; saved, it is a PUT of the form's fields onto the same id.
        await row.Locator("button.ant-btn").Nth(0).ClickAsync(); // the row's switch is a button too: the operations are ant-btn
        var edit = page.Locator(".ant-modal-content:visible");
        await Expect(edit.Locator("#src_ip")).ToHaveValueAsync($"{_ns.PeerAddress}/32");
        await edit.Locator("#comment").FillAsync("edited on the seed's page");
        await edit.Locator("button.ant-btn-primary").ClickAsync();
        var edited = page.Locator("tr", new() { HasText = "edited on the seed's page" });
        await Expect(edited).ToBeVisibleAsync(new() { Timeout = 10_000 });
        Shell.WaitFor(() => Rules().Result.Single(r => r.GetProperty("id").GetInt32() == id).GetProperty("comment").GetString(),
            c => c == "edited on the seed's page", "the edit in the store");
        Assert.Equal(11, (await Rules()).Count);

        // Toggle: the row's switch disables it, and enables it again.
        var toggle = edited.GetByRole(AriaRole.Switch);
        await Expect(toggle).ToBeCheckedAsync();
        await toggle.ClickAsync();
        await Expect(edited.GetByRole(AriaRole.Switch)).Not.ToBeCheckedAsync(new() { Timeout = 10_000 });
        Assert.False((await Rules()).Single(r => r.GetProperty("id").GetInt32() == id).GetProperty("enabled").GetBoolean());
        await edited.GetByRole(AriaRole.Switch).ClickAsync();
        await Expect(edited.GetByRole(AriaRole.Switch)).ToBeCheckedAsync(new() { Timeout = 10_000 });
        Assert.True((await Rules()).Single(r => r.GetProperty("id").GetInt32() == id).GetProperty("enabled").GetBoolean());

        // Delete, confirmed in its pop-up.
        await edited.Locator("button.ant-btn").Nth(1).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Confirm" }).ClickAsync();
        await Expect(edited).ToHaveCountAsync(0, new() { Timeout = 10_000 });
        Assert.DoesNotContain(await Rules(), r => r.GetProperty("id").GetInt32() == id);
        Assert.Equal(10, (await Rules()).Count);
        await AssertNoFailureShown(page);

        // The connection monitor: the seed's flat totals and the flows' key and info strings, from real traffic.
        await page.GetByText("Connection Monitor").ClickAsync();
        Assert.True(_ns.PingFromPeer(3));
        var key = "";
        Shell.WaitFor(() => key = _node.GetJson($"/api/connections?address={_ns.PeerAddress}&protocol=icmp").EnumerateArray()
            .Select(f => f.GetProperty("key").GetString()!).FirstOrDefault() ?? "", k => k.Length > 0, "the echo flow in /api/connections");
        await page.GetByRole(AriaRole.Button, new() { Name = "Start Monitoring" }).ClickAsync();
        await Expect(page.GetByText(key).First).ToBeVisibleAsync(new() { Timeout = 15_000 });
        var totals = page.Locator("text=Total Packets").Locator("xpath=..");
        await Expect(totals).ToContainTextAsync(new Regex("[1-9][0-9]*"));
        await AssertNoFailureShown(page);
        await Expect(page.GetByText("Total 0 connection records")).ToHaveCountAsync(0);
    }
}
