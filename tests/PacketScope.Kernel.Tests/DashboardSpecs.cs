// The dashboard in real Chromium (Debian's, through Playwright) against the real node: it goes live, shows traffic
// from the namespace without a reload, adds a rule that blocks ping and counts its hits, shows a validation error by
// its field, and says when it lost the node and when it is back.
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Testing;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace PacketScope.Kernel.Tests;

public sealed class DashboardSpecs : IAsyncLifetime
{
    private const string Token = "dashboard-test-token-0123456789abcdef";

    private readonly VethNamespace _ns = VethNamespace.Create();
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ps-dash-{Guid.NewGuid():N}");
    private readonly string _profile = Path.Combine(Path.GetTempPath(), $"ps-chromium-{Guid.NewGuid():N}");
    private readonly int _port = Ports.Free();
    private NodeProcess _node = null!;
    private IPlaywright _playwright = null!;
    private IBrowserContext _browser = null!;

    private string[] Args => ["--iface", _ns.HostInterface, "--max-flows", "4096", "--data", _data, "--node-name", "dash-1", "--api-token", Token];

    public async Task InitializeAsync()
    {
        _node = NodeProcess.Start(Args, port: _port);
        _node.WaitReady();
        _playwright = await Playwright.CreateAsync();
        // A closed network: nothing in the background, a fresh profile.
        _browser = await _playwright.Chromium.LaunchPersistentContextAsync(_profile, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        _node.Dispose();
        _ns.Dispose();
        foreach (var dir in new[] { _data, _profile })
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
    }

    private async Task<IPage> Open(string route)
    {
        var page = await _browser.NewPageAsync();
        await page.GotoAsync($"http://127.0.0.1:{_port}/#/{route}");
        await Expect(page.Locator("#live")).ToHaveTextAsync("live", new() { Timeout = 15_000 });
        return page;
    }

    [Fact]
    public async Task Should_go_live_and_show_traffic_from_the_namespace_in_the_connections_table_without_a_reload()
    {
        var page = await Open("connections");
        Assert.True(_ns.PingFromPeer(3));
        var row = page.Locator("#flows tbody tr", new() { HasText = _ns.PeerAddress.ToString() });
        await Expect(row.First).ToBeVisibleAsync(new() { Timeout = 10_000 });
        await Expect(row.First).ToContainTextAsync("ICMP");
        await row.First.ClickAsync(); // the flow's counters
        await Expect(page.Locator("#detail")).ToContainTextAsync("orig");

        await page.Locator("a[data-page=overview]").ClickAsync();
        await Expect(page.Locator("#nodes tbody")).ToContainTextAsync("dash-1", new() { Timeout = 10_000 });
        await Expect(page.Locator("#metrics [data-metric=ingress]")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Should_add_a_rule_from_the_Guarder_page_that_blocks_ping_and_raise_its_hit_counter()
    {
        var page = await Open("guarder");
        await page.Locator("#token").FillAsync(Token);
        await page.Locator("#add select[name=rule_type]").SelectOptionAsync("icmp");
        await page.Locator("#add input[name=icmp_type]").FillAsync("8");
        await page.Locator("#add input[name=comment]").FillAsync("no ping, from the browser");
        await page.Locator("#add button[type=submit]").ClickAsync();
        var row = page.Locator("#rules tbody tr", new() { HasText = "no ping, from the browser" });
        await Expect(row).ToBeVisibleAsync(new() { Timeout = 10_000 });

        // In the kernel once the node applied it; then every echo request is dropped and counted.
        Shell.WaitFor(() => _ns.PingFromPeer(1), ok => !ok, "ping blocked by the rule from the browser", 20);
        Assert.False(_ns.PingFromPeer(3));
        await Expect(row.Locator("[data-hits]")).ToHaveTextAsync(new Regex("^([4-9]|[1-9][0-9]+)$"), new() { Timeout = 10_000 });

        // Edited on the page: the form holds the rule, Save updates it in place (same id, the new comment, still enforced).
        await row.Locator("button.edit").ClickAsync();
        await Expect(page.Locator("#add input[name=icmp_type]")).ToHaveValueAsync("8");
        await page.Locator("#add input[name=comment]").FillAsync("no ping, edited");
        await page.Locator("#submit").ClickAsync();
        await Expect(page.Locator("#rules tbody tr", new() { HasText = "no ping, edited" })).ToBeVisibleAsync(new() { Timeout = 10_000 });
        var rules = _node.GetJson("/api/filters");
        Assert.Equal(1, rules.GetArrayLength());
        Assert.Equal("no ping, edited", rules[0].GetProperty("comment").GetString());
        Assert.Equal(8, rules[0].GetProperty("icmp_type").GetInt32());
    }

    [Fact]
    public async Task Should_show_the_servers_validation_error_next_to_the_field()
    {
        var page = await Open("guarder");
        await page.Locator("#token").FillAsync(Token);
        await page.Locator("#add input[name=src_ip]").FillAsync("10.0.0.999");
        await page.Locator("#add button[type=submit]").ClickAsync();
        await Expect(page.Locator("#add [data-error=src_ip]")).ToContainTextAsync("10.0.0.999", new() { Timeout = 10_000 });
        Assert.Equal(0, _node.GetJson("/api/filters").GetArrayLength());
    }

    [Fact]
    public async Task Should_turn_the_live_badge_red_when_the_node_stops_and_green_when_it_is_back()
    {
        var page = await Open("overview");
        _node.Signal("TERM");
        Assert.True(_node.WaitForExit(30));
        await Expect(page.Locator("#live")).ToHaveClassAsync(new Regex("down"), new() { Timeout = 15_000 });
        await Expect(page.Locator("#live")).ToContainTextAsync("offline");

        _node.Dispose();
        _node = NodeProcess.Start(Args, port: _port);
        _node.WaitReady();
        await Expect(page.Locator("#live")).ToHaveTextAsync("live", new() { Timeout = 30_000 });
        await Expect(page.Locator("#nodes tbody")).ToContainTextAsync("dash-1", new() { Timeout = 10_000 });
    }
}
