// The node's options and where they come from: HOCON defaults < --config file < PACKETSCOPE_* env < command line.
using System.Globalization;
using System.Net;
using Akka.Configuration;
using PacketScope.Native;

namespace PacketScope.Web.Hosting;

public sealed record NodeOptions
{
    public IReadOnlyList<string> Interfaces { get; init; } = [];
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);
    public IPEndPoint Api { get; init; } = new(IPAddress.Loopback, 8080);
    public XdpMode XdpMode { get; init; } = XdpMode.Auto;
    public string DataDirectory { get; init; } = "./data";
    public uint MaxFlows { get; init; } = 1_048_576;
    public uint MaxIcmp { get; init; } = 65_536;
    public TimeSpan FlowIdleTimeout { get; init; } = TimeSpan.FromSeconds(120);
    public TimeSpan ClosedFlowTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public string NodeName { get; init; } = Environment.MachineName;
    public string? ConfigFile { get; init; }
    /// <summary>Bearer token for changes; null: generated at first start and kept under --data.</summary>
    public string? ApiToken { get; init; }
    public bool ShowHelp { get; init; }

    // ---- cluster
    /// <summary>Seed nodes, HOST:PORT; none: this node forms a cluster of its own (and others may join it).</summary>
    public IReadOnlyList<(string Host, int Port)> Seeds { get; init; } = [];
    /// <summary>The cluster (Akka.Remote) listen port; 0: any free port (only useful without seeds pointing here).</summary>
    public int ClusterPort { get; init; } = 4053;
    /// <summary>The address the cluster transport binds to.</summary>
    public string Hostname { get; init; } = "127.0.0.1";
    /// <summary>The address other nodes reach this one at; null: <see cref="Hostname"/>.</summary>
    public string? PublicHostname { get; init; }
    public IReadOnlyList<string> Roles { get; init; } = AllRoles;
    /// <summary>How long a node may take to join its seeds before it gives up.</summary>
    public TimeSpan JoinTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public const string SensorRole = "sensor";
    public const string WebRole = "web";
    public static readonly IReadOnlyList<string> AllRoles = [SensorRole, WebRole];

    // ---- persistence
    /// <summary>Where the rule store's events go: SQLite under --data (one node), or a PostgreSQL server the cluster shares.</summary>
    public JournalKind Journal { get; init; } = JournalKind.Sqlite;
    /// <summary>The PostgreSQL connection string (a secret: it may hold a password; never logged or shown).</summary>
    public string? JournalConnection { get; init; }

    // ---- browsers
    /// <summary>Origins (scheme://host[:port]) whose pages may call the REST API (CORS); none: no cross-origin page may.</summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];
    /// <summary>Lets a page of a listed origin change rules without the token when its browser is on loopback (see README).</summary>
    public bool CorsAllowChanges { get; init; }
    /// <summary>Host names the REST API answers to besides its listen address and loopback (DNS rebinding guard).</summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    public bool IsSensor => Roles.Contains(SensorRole);

    /// <summary>Never the secrets: the API token and the journal connection string are only said to be set.</summary>
    public override string ToString() =>
        $"NodeOptions {{ Interfaces = [{string.Join(", ", Interfaces)}], Api = {Api}, Data = {DataDirectory}, Node = {NodeName}, " +
        $"Cluster = {Hostname}:{ClusterPort}, Seeds = [{string.Join(", ", Seeds.Select(s => $"{s.Host}:{s.Port}"))}], Roles = [{string.Join(", ", Roles)}], " +
        $"Journal = {Journal}, ApiToken = {(ApiToken is null ? "generated" : "set")}, JournalConnection = {(JournalConnection is null ? "none" : "set")} }}";
    public bool IsWeb => Roles.Contains(WebRole);

    public const string Usage = """
        Usage: packetscope [options]

          --iface NAME          interface to monitor (repeatable; default: the default route's)
          --interval SECONDS    map read period (default 1)
          --api HOST:PORT       REST listen address (default 127.0.0.1:8080; ":PORT" = all addresses)
          --xdp-mode MODE       native | generic | auto (default auto)
          --data DIR            state directory (default ./data)
          --max-flows N         flow table size (default 1048576)
          --node-name NAME      this node's name in API records (default: host name)
          --config FILE         HOCON file with a packetscope { ... } block
          --api-token TOKEN     bearer token for changes (default: generated once, kept in DIR/api-token)
          --seed HOST:PORT      a cluster seed node to join through (repeatable; none: a one-node cluster)
          --cluster-port PORT   cluster listen port (default 4053; 0: any free port)
          --hostname ADDRESS    cluster listen address (default 127.0.0.1)
          --public-hostname A   the address other nodes reach this one at (default: --hostname)
          --role ROLE           sensor (monitors and filters interfaces) or web (serves the REST API);
                                repeatable (default: both)
          --join-timeout SECS   give up joining the seeds after this long (default 30)
          --journal KIND        sqlite (under --data, the default) or postgresql (shared by a cluster)
          --journal-connection S  PostgreSQL connection string, e.g. "Host=db;Database=packetscope;Username=ps;Password=..."
                                (prefer PACKETSCOPE_JOURNAL_CONNECTION or a --config file: a command line is visible to others)
          --cors-origin ORIGIN  a web page origin (http://host:port) allowed to call the REST API from a
                                browser (repeatable; default none)
          --cors-allow-changes  let pages of those origins change rules without the token, from loopback only
          --allowed-host NAME   a host name the API answers to besides its address and loopback (repeatable)
          --help                this text

        Single-dash forms (-iface eth0) are accepted. Environment: PACKETSCOPE_IFACE (comma-separated),
        PACKETSCOPE_INTERVAL, PACKETSCOPE_API, PACKETSCOPE_XDP_MODE, PACKETSCOPE_DATA,
        PACKETSCOPE_MAX_FLOWS, PACKETSCOPE_NODE_NAME, PACKETSCOPE_API_TOKEN, PACKETSCOPE_CONFIG,
        PACKETSCOPE_SEEDS (comma-separated), PACKETSCOPE_CLUSTER_PORT, PACKETSCOPE_HOSTNAME,
        PACKETSCOPE_PUBLIC_HOSTNAME, PACKETSCOPE_ROLES (comma-separated), PACKETSCOPE_JOURNAL,
        PACKETSCOPE_JOURNAL_CONNECTION, PACKETSCOPE_CORS_ORIGINS (comma-separated),
        PACKETSCOPE_CORS_ALLOW_CHANGES (true/false), PACKETSCOPE_ALLOWED_HOSTS (comma-separated).
        """;

    private static readonly Dictionary<string, string> s_envNames = new()
    {
        ["PACKETSCOPE_IFACE"] = "iface",
        ["PACKETSCOPE_INTERVAL"] = "interval",
        ["PACKETSCOPE_API"] = "api",
        ["PACKETSCOPE_XDP_MODE"] = "xdp-mode",
        ["PACKETSCOPE_DATA"] = "data",
        ["PACKETSCOPE_MAX_FLOWS"] = "max-flows",
        ["PACKETSCOPE_NODE_NAME"] = "node-name",
        ["PACKETSCOPE_API_TOKEN"] = "api-token",
        ["PACKETSCOPE_SEEDS"] = "seed",
        ["PACKETSCOPE_CLUSTER_PORT"] = "cluster-port",
        ["PACKETSCOPE_HOSTNAME"] = "hostname",
        ["PACKETSCOPE_PUBLIC_HOSTNAME"] = "public-hostname",
        ["PACKETSCOPE_ROLES"] = "role",
        ["PACKETSCOPE_JOURNAL"] = "journal",
        ["PACKETSCOPE_JOURNAL_CONNECTION"] = "journal-connection",
        ["PACKETSCOPE_CORS_ORIGINS"] = "cors-origin",
        ["PACKETSCOPE_CORS_ALLOW_CHANGES"] = "cors-allow-changes",
        ["PACKETSCOPE_ALLOWED_HOSTS"] = "allowed-host",
    };

    private static readonly HashSet<string> s_lists = ["iface", "seed", "role", "cors-origin", "allowed-host"];

    /// <summary>Options that take no value on the command line (true when given).</summary>
    private static readonly HashSet<string> s_flags = ["cors-allow-changes"];

    /// <summary>Builds the options; throws <see cref="OptionsException"/> naming the option and what to do.</summary>
    public static NodeOptions Parse(IReadOnlyList<string> args, IReadOnlyDictionary<string, string?> environment, string defaultsHocon)
    {
        var cli = ParseCommandLine(args);
        if (cli.ContainsKey("help"))
            return new NodeOptions { ShowHelp = true };

        var configFile = cli.TryGetValue("config", out var c) ? c[^1] : environment.GetValueOrDefault("PACKETSCOPE_CONFIG");
        var config = ConfigurationFactory.ParseString(defaultsHocon);
        if (!string.IsNullOrEmpty(configFile))
        {
            if (!File.Exists(configFile))
                throw new OptionsException("config", $"file {configFile} does not exist");
            try
            {
                config = ConfigurationFactory.ParseString(File.ReadAllText(configFile)).WithFallback(config);
            }
            catch (Exception e) when (e is not OptionsException)
            {
                throw new OptionsException("config", $"{configFile} is not valid HOCON: {e.Message}");
            }
        }
        var ps = config.GetConfig("packetscope") ?? throw new OptionsException("config", "no packetscope { } block");

        // Layer: HOCON, then environment, then command line; the last one that sets an option wins.
        var values = new Dictionary<string, List<string>>();
        void Set(string name, IEnumerable<string> v) => values[name] = v.ToList();
        var hoconName = "interfaces";
        try
        {
            Set("iface", ps.GetStringList("interfaces") ?? []);
            hoconName = "seeds";
            Set("seed", ps.GetStringList("seeds") ?? []);
            hoconName = "roles";
            Set("role", ps.GetStringList("roles") ?? []);
            hoconName = "cors-origins";
            Set("cors-origin", ps.GetStringList("cors-origins") ?? []);
            hoconName = "allowed-hosts";
            Set("allowed-host", ps.GetStringList("allowed-hosts") ?? []);
            hoconName = "cors-allow-changes";
            Set("cors-allow-changes", [ps.GetBoolean("cors-allow-changes", false) ? "true" : "false"]);
            foreach (var name in new[] { "interval", "api", "xdp-mode", "data", "max-flows", "max-icmp", "flow-idle-timeout", "closed-flow-timeout", "node-name", "api-token",
                         "cluster-port", "hostname", "public-hostname", "join-timeout", "journal", "journal-connection" })
            {
                hoconName = name;
                var raw = ps.GetString(name, "");
                // A bare number means seconds, as on the command line (HOCON alone would read milliseconds).
                if (name is "interval" or "flow-idle-timeout" or "closed-flow-timeout" or "join-timeout"
                    && !double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                    raw = ps.GetTimeSpan(name, null, allowInfinite: false).TotalSeconds.ToString(CultureInfo.InvariantCulture);
                Set(name, [raw]);
            }
        }
        catch (Exception e) when (e is not OptionsException)
        {
            throw new OptionsException("config", $"packetscope.{hoconName} in {configFile ?? "the defaults"}: {e.Message}");
        }
        foreach (var (env, name) in s_envNames)
            if (environment.TryGetValue(env, out var v) && !string.IsNullOrWhiteSpace(v))
                Set(name, s_lists.Contains(name) ? v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [v]);
        foreach (var (name, v) in cli)
            Set(name, v);

        string One(string name) => values[name][^1];
        var nodeName = One("node-name");
        var options = new NodeOptions
        {
            Interfaces = values["iface"].Distinct().ToList(),
            Interval = Seconds("interval", One("interval"), min: 0.05),
            Api = ParseEndpoint(One("api")),
            XdpMode = One("xdp-mode").ToLowerInvariant() switch
            {
                "native" or "drv" => XdpMode.Native,
                "generic" or "skb" => XdpMode.Generic,
                "auto" => XdpMode.Auto,
                var m => throw new OptionsException("xdp-mode", $"'{m}' is not one of native, generic, auto"),
            },
            DataDirectory = One("data"),
            MaxFlows = Count("max-flows", One("max-flows"), 1024, 64 * 1024 * 1024),
            MaxIcmp = Count("max-icmp", One("max-icmp"), 256, 16 * 1024 * 1024),
            FlowIdleTimeout = Seconds("flow-idle-timeout", One("flow-idle-timeout"), min: 1),
            ClosedFlowTimeout = Seconds("closed-flow-timeout", One("closed-flow-timeout"), min: 1),
            NodeName = string.IsNullOrWhiteSpace(nodeName) ? Environment.MachineName : nodeName,
            ConfigFile = configFile,
            ApiToken = string.IsNullOrWhiteSpace(One("api-token")) ? null : One("api-token"),
            Seeds = values["seed"].Select(ParseSeed).Distinct().ToList(),
            ClusterPort = (int)Count("cluster-port", One("cluster-port"), 0, 65535),
            Hostname = Host("hostname", One("hostname")) ?? throw new OptionsException("hostname", "needs an address or host name"),
            PublicHostname = Host("public-hostname", One("public-hostname")),
            Roles = ParseRoles(values["role"]),
            JoinTimeout = Seconds("join-timeout", One("join-timeout"), min: 1),
            Journal = One("journal").ToLowerInvariant() switch
            {
                "sqlite" => JournalKind.Sqlite,
                "postgresql" or "postgres" => JournalKind.Postgresql,
                var j => throw new OptionsException("journal", $"'{j}' is not one of sqlite, postgresql"),
            },
            JournalConnection = string.IsNullOrWhiteSpace(One("journal-connection")) ? null : One("journal-connection"),
            CorsOrigins = values["cors-origin"].Select(ParseOrigin).Distinct().ToList(),
            CorsAllowChanges = One("cors-allow-changes").Trim().ToLowerInvariant() switch
            {
                "true" or "yes" or "on" or "1" => true,
                "false" or "no" or "off" or "0" or "" => false,
                var b => throw new OptionsException("cors-allow-changes", $"'{b}' is not true or false"),
            },
            AllowedHosts = values["allowed-host"].Select(h => Host("allowed-host", h) ?? throw new OptionsException("allowed-host", "is empty"))
                .Select(h => h.ToLowerInvariant()).Distinct().ToList(),
        };
        if (options.CorsAllowChanges && options.CorsOrigins.Count == 0)
            throw new OptionsException("cors-allow-changes", "needs at least one --cors-origin: it lets pages of those origins change rules");
        if (options.PublicHostname is null && System.Net.IPAddress.TryParse(options.Hostname, out var bind) &&
            (bind.Equals(IPAddress.Any) || bind.Equals(IPAddress.IPv6Any)))
            throw new OptionsException("public-hostname", $"--hostname {options.Hostname} listens on every address, but other nodes need one to dial: give it with --public-hostname");
        if (options.Journal == JournalKind.Postgresql && options.JournalConnection is null)
            throw new OptionsException("journal-connection", "--journal postgresql needs a connection string (Host=...;Database=...;Username=...)");
        return options;
    }

    /// <summary>A browser origin as it sends it: scheme://host[:port], lower case, no path; "*" is refused (list each one).</summary>
    public static string ParseOrigin(string text)
    {
        var t = text.Trim().TrimEnd('/');
        if (!Uri.TryCreate(t, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/"
            || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0 || t.Contains('*'))
            throw new OptionsException("cors-origin", $"'{text}' is not an origin like http://127.0.0.1:5173 or https://ui.example.com (scheme, host, optional port; no path, no wildcard)");
        return uri.GetLeftPart(UriPartial.Authority).ToLowerInvariant();
    }

    /// <summary>HOST:PORT of a seed node ([V6]:PORT for an IPv6 address).</summary>
    public static (string Host, int Port) ParseSeed(string text)
    {
        var colon = text.LastIndexOf(':');
        var host = colon > 0 ? text[..colon].Trim('[', ']') : "";
        if (colon <= 0 || host.Length == 0 || !int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            throw new OptionsException("seed", $"'{text}' is not HOST:PORT of a node's cluster port (e.g. 10.0.0.5:4053)");
        if (Uri.CheckHostName(host) == UriHostNameType.Unknown)
            throw new OptionsException("seed", $"'{host}' in '{text}' is not a host name or an IP address");
        return (host, port);
    }

    private static string? Host(string name, string text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return null;
        var host = text.Trim().Trim('[', ']');
        if (Uri.CheckHostName(host) == UriHostNameType.Unknown)
            throw new OptionsException(name, $"'{text}' is not a host name or an IP address");
        return host;
    }

    private static IReadOnlyList<string> ParseRoles(IEnumerable<string> given)
    {
        var roles = given.Select(r => r.Trim().ToLowerInvariant()).Where(r => r.Length > 0).Distinct().ToList();
        foreach (var r in roles)
            if (!AllRoles.Contains(r))
                throw new OptionsException("role", $"'{r}' is not a role; roles are {string.Join(", ", AllRoles)}");
        return roles.Count == 0 ? AllRoles : roles;
    }

    private static readonly HashSet<string> s_valued = ["iface", "interval", "api", "xdp-mode", "data", "max-flows", "max-icmp", "node-name", "config", "flow-idle-timeout", "closed-flow-timeout", "api-token",
        "seed", "cluster-port", "hostname", "public-hostname", "role", "join-timeout", "journal", "journal-connection",
        "cors-origin", "cors-allow-changes", "allowed-host"];

    private static Dictionary<string, List<string>> ParseCommandLine(IReadOnlyList<string> args)
    {
        var result = new Dictionary<string, List<string>>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith('-') || arg == "-" || arg == "--")
                throw new OptionsException(arg, "unexpected argument; options start with --, see --help");
            var name = arg.TrimStart('-');
            string? value = null;
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            if (name is "help" or "h")
            {
                result["help"] = [];
                continue;
            }
            if (!s_valued.Contains(name))
                throw new OptionsException(name, "unknown option, see --help");
            if (value is null && s_flags.Contains(name))
                value = "true";
            if (value is null)
            {
                if (i + 1 >= args.Count)
                    throw new OptionsException(name, "needs a value");
                value = args[++i];
            }
            if (!result.TryGetValue(name, out var list))
                result[name] = list = [];
            if (s_lists.Contains(name))
                list.Add(value);
            else
                result[name] = [value];
        }
        return result;
    }

    private static TimeSpan Seconds(string name, string text, double min)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || double.IsNaN(s) || s < min || s > 86_400)
            throw new OptionsException(name, $"'{text}' is not a number of seconds between {min.ToString(CultureInfo.InvariantCulture)} and 86400");
        return TimeSpan.FromSeconds(s);
    }

    private static uint Count(string name, string text, uint min, uint max)
    {
        if (!uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            throw new OptionsException(name, $"'{text}' is not a whole number between {min} and {max}");
        return n;
    }

    /// <summary>HOST:PORT, [V6]:PORT, or :PORT (all addresses, as the seed's -api :8080).</summary>
    public static IPEndPoint ParseEndpoint(string text)
    {
        // ":PORT" is every address, IPv4 and IPv6 (Kestrel binds [::] dual-stack).
        if (text.StartsWith(':') && int.TryParse(text[1..], NumberStyles.None, CultureInfo.InvariantCulture, out var anyPort) && anyPort is > 0 and < 65536)
            return new IPEndPoint(IPAddress.IPv6Any, anyPort);
        if (IPEndPoint.TryParse(text, out var ep) && ep.Port > 0 && text.Contains(':'))
            return ep;
        var colon = text.LastIndexOf(':');
        if (colon > 0 && text[..colon] == "localhost" && int.TryParse(text[(colon + 1)..], out var p) && p is > 0 and < 65536)
            return new IPEndPoint(IPAddress.Loopback, p);
        throw new OptionsException("api", $"'{text}' is not HOST:PORT with an IP address (e.g. 127.0.0.1:8080, [::1]:8080, :8080)");
    }

    /// <summary>The interface of the IPv4 default route, from /proc/net/route; null when there is none.</summary>
    public static string? DefaultRouteInterface(string routeFile = "/proc/net/route")
    {
        if (!File.Exists(routeFile))
            return null;
        foreach (var line in File.ReadLines(routeFile).Skip(1))
        {
            var f = line.Split('\t', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (f.Length > 7 && f[1] == "00000000" && f[7] == "00000000")
                return f[0];
        }
        return null;
    }
}

public enum JournalKind
{
    Sqlite,
    Postgresql,
}

public sealed class OptionsException(string option, string reason) : Exception($"--{option}: {reason}")
{
    public string Option { get; } = option;
}
