// Node options: defaults, precedence (HOCON < file < environment < command line), and clear errors.
using System.Net;
using PacketScope.Native;
using PacketScope.Web.Hosting;
using Xunit;

namespace PacketScope.Web.Tests;

public sealed class NodeOptionsSpecs
{
    private static readonly string Defaults = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "config", "packetscope.conf"));
    private static readonly Dictionary<string, string?> NoEnv = new();

    private static NodeOptions Parse(params string[] args) => NodeOptions.Parse(args, NoEnv, Defaults);

    [Fact]
    public void Should_default_to_loopback_8080_one_second_auto_mode()
    {
        var o = Parse();
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 8080), o.Api);
        Assert.Equal(TimeSpan.FromSeconds(1), o.Interval);
        Assert.Equal(XdpMode.Auto, o.XdpMode);
        Assert.Equal("./data", o.DataDirectory);
        Assert.Equal(1_048_576u, o.MaxFlows);
        Assert.Empty(o.Interfaces);
    }

    [Fact]
    public void Should_accept_repeated_interfaces_and_the_seed_s_single_dash_forms()
    {
        var o = Parse("-iface", "eth0", "--iface", "eth1", "-interval", "5", "-api", ":9090", "--xdp-mode=generic");
        Assert.Equal(["eth0", "eth1"], o.Interfaces);
        Assert.Equal(TimeSpan.FromSeconds(5), o.Interval);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Any, 9090), o.Api);
        Assert.Equal(XdpMode.Generic, o.XdpMode);
    }

    [Fact]
    public void Should_let_the_command_line_beat_the_environment_beat_the_config_file()
    {
        var file = Path.Combine(Path.GetTempPath(), $"ps-{Guid.NewGuid():N}.conf");
        File.WriteAllText(file, "packetscope { interval = 3, closed-flow-timeout = 2m, api = \"127.0.0.1:7000\", interfaces = [\"eth9\"], data = /var/lib/ps }");
        try
        {
            var env = new Dictionary<string, string?> { ["PACKETSCOPE_API"] = "127.0.0.1:7100", ["PACKETSCOPE_CONFIG"] = file };
            var fromFileAndEnv = NodeOptions.Parse([], env, Defaults);
            Assert.Equal(TimeSpan.FromSeconds(3), fromFileAndEnv.Interval); // a bare number is seconds
            Assert.Equal(TimeSpan.FromMinutes(2), fromFileAndEnv.ClosedFlowTimeout);
            Assert.Equal(7100, fromFileAndEnv.Api.Port);
            Assert.Equal(["eth9"], fromFileAndEnv.Interfaces);
            Assert.Equal("/var/lib/ps", fromFileAndEnv.DataDirectory);

            var cli = NodeOptions.Parse(["--api", "127.0.0.1:7200", "--iface", "lo"], env, Defaults);
            Assert.Equal(7200, cli.Api.Port);
            Assert.Equal(["lo"], cli.Interfaces);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Should_name_the_setting_of_a_config_file_that_has_a_bad_value()
    {
        var file = Path.Combine(Path.GetTempPath(), $"ps-{Guid.NewGuid():N}.conf");
        File.WriteAllText(file, "packetscope { interval = soon }");
        try
        {
            var e = Assert.Throws<OptionsException>(() => Parse("--config", file));
            Assert.Equal("config", e.Option);
            Assert.Contains("packetscope.interval", e.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Should_split_a_comma_separated_interface_list_from_the_environment()
    {
        var o = NodeOptions.Parse([], new Dictionary<string, string?> { ["PACKETSCOPE_IFACE"] = "eth0, eth1" }, Defaults);
        Assert.Equal(["eth0", "eth1"], o.Interfaces);
    }

    [Theory]
    [InlineData("--interval", "0", "interval")]
    [InlineData("--interval", "abc", "interval")]
    [InlineData("--api", "nohost", "api")]
    [InlineData("--api", "127.0.0.1:70000", "api")]
    [InlineData("--xdp-mode", "turbo", "xdp-mode")]
    [InlineData("--max-flows", "-5", "max-flows")]
    [InlineData("--max-flows", "12", "max-flows")]
    [InlineData("--config", "/nonexistent.conf", "config")]
    [InlineData("--seed", "10.0.0.5", "seed")]
    [InlineData("--seed", "10.0.0.5:0", "seed")]
    [InlineData("--seed", "10.0.0.5:99999", "seed")]
    [InlineData("--seed", ":4053", "seed")]
    [InlineData("--seed", "bad host:4053", "seed")]
    [InlineData("--cluster-port", "70000", "cluster-port")]
    [InlineData("--cluster-port", "-1", "cluster-port")]
    [InlineData("--hostname", "not a host", "hostname")]
    [InlineData("--role", "admin", "role")]
    [InlineData("--join-timeout", "0", "join-timeout")]
    [InlineData("--journal", "mysql", "journal")]
    [InlineData("--journal", "postgresql", "journal-connection")]
    [InlineData("--hostname", "0.0.0.0", "public-hostname")]
    public void Should_name_the_option_and_the_reason_for_a_bad_value(string option, string value, string name)
    {
        var e = Assert.Throws<OptionsException>(() => Parse(option, value));
        Assert.Equal(name, e.Option);
        Assert.StartsWith($"--{name}: ", e.Message);
    }

    [Fact]
    public void Should_form_a_one_node_cluster_on_loopback_with_every_role_by_default()
    {
        var o = Parse();
        Assert.Empty(o.Seeds);
        Assert.Equal(4053, o.ClusterPort);
        Assert.Equal("127.0.0.1", o.Hostname);
        Assert.Null(o.PublicHostname);
        Assert.Equal(["sensor", "web"], o.Roles);
        Assert.Equal(JournalKind.Sqlite, o.Journal);
        Assert.Null(o.JournalConnection);
    }

    [Fact]
    public void Should_take_seeds_roles_and_the_journal_from_the_command_line_and_the_environment()
    {
        var o = Parse("--seed", "10.0.0.5:4053", "--seed", "[fd00::5]:4053", "--seed", "db-1.example:4054", "--role", "web", "--cluster-port", "0",
            "--hostname", "10.0.0.9", "--public-hostname", "node9.example", "--journal", "postgresql", "--journal-connection", "Host=db;Database=ps");
        Assert.Equal([("10.0.0.5", 4053), ("fd00::5", 4053), ("db-1.example", 4054)], o.Seeds);
        Assert.Equal(["akka.tcp://packetscope@10.0.0.5:4053", "akka.tcp://packetscope@[fd00::5]:4053", "akka.tcp://packetscope@db-1.example:4054"],
            o.Seeds.Select(s => NodeHosting.SeedAddress(s.Host, s.Port)));
        Assert.All(o.Seeds, s => Akka.Actor.Address.Parse(NodeHosting.SeedAddress(s.Host, s.Port))); // what Akka reads
        Assert.Equal(["web"], o.Roles);
        Assert.False(o.IsSensor);
        Assert.Equal((0, "10.0.0.9", "node9.example"), (o.ClusterPort, o.Hostname, o.PublicHostname));
        Assert.Equal((JournalKind.Postgresql, "Host=db;Database=ps"), (o.Journal, o.JournalConnection));

        var env = new Dictionary<string, string?> { ["PACKETSCOPE_SEEDS"] = "10.0.0.5:4053, 10.0.0.6:4053", ["PACKETSCOPE_ROLES"] = "sensor" };
        var fromEnv = NodeOptions.Parse([], env, Defaults);
        Assert.Equal([("10.0.0.5", 4053), ("10.0.0.6", 4053)], fromEnv.Seeds);
        Assert.Equal(["sensor"], fromEnv.Roles);
    }

    [Fact]
    public void Should_never_put_the_journal_password_in_the_persistence_config_error_or_usage()
    {
        var o = Parse("--journal", "postgresql", "--journal-connection", "Host=127.0.0.1;Port=1;Database=ps;Username=ps;Password=hunter2-secret;Timeout=1");
        Assert.Contains("hunter2-secret", NodeHosting.PersistenceHocon(o)); // only inside the actor system's configuration
        var problem = Preflight.CheckPostgresql(o.JournalConnection!);
        Assert.NotNull(problem);
        Assert.StartsWith("cannot reach the PostgreSQL journal", problem);
        Assert.DoesNotContain("hunter2-secret", problem);
        Assert.Contains("\"Host=127.0.0.1;Port=1;Database=ps;Username=ps;Password=hunter2-secret;Timeout=1\"", NodeHosting.PersistenceHocon(o));
        var withToken = Parse("--journal", "postgresql", "--journal-connection", "Password=hunter2-secret", "--api-token", "token-secret-0123456789");
        Assert.DoesNotContain("hunter2-secret", withToken.ToString());
        Assert.DoesNotContain("token-secret", withToken.ToString());
    }

    [Fact]
    public void Should_reject_an_unknown_option_and_a_missing_value()
    {
        Assert.Contains("unknown option", Assert.Throws<OptionsException>(() => Parse("--ifcae", "eth0")).Message);
        Assert.Contains("needs a value", Assert.Throws<OptionsException>(() => Parse("--iface")).Message);
        Assert.Contains("unexpected argument", Assert.Throws<OptionsException>(() => Parse("eth0")).Message);
    }

    [Fact]
    public void Should_find_the_default_route_interface()
    {
        var routes = Path.Combine(Path.GetTempPath(), $"ps-route-{Guid.NewGuid():N}");
        File.WriteAllText(routes, """
            Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
            eth1	0000A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
            eth0	00000000	0101A8C0	0003	0	0	0	00000000	0	0	0
            """);
        try
        {
            Assert.Equal("eth0", NodeOptions.DefaultRouteInterface(routes));
        }
        finally
        {
            File.Delete(routes);
        }
    }
}
