// Checks before anything is loaded: each failure is one line that says what to do.
using System.Net;
using System.Net.Sockets;
using PacketScope.Native;

namespace PacketScope.Web.Hosting;

public static class Preflight
{
    /// <summary>Returns the first problem that stops the node from tracking, or null when it can start.</summary>
    public static string? Check(NodeOptions options, string objectPath)
    {
        if (CheckCluster(options) is { } clusterProblem)
            return clusterProblem;
        if (options.IsSensor && CheckSensor(options, objectPath) is { } sensorProblem)
            return sensorProblem;
        if (options.Journal == JournalKind.Postgresql && CheckPostgresql(options.JournalConnection!) is { } journalProblem)
            return journalProblem;
        // Last, so that a node refused for another reason leaves no directory behind.
        try
        {
            // The rules, the journal and the token: this user's alone (0700, files 0600), however the node was started.
            PrivateFiles.CreateFromNowOn();
            var existed = Directory.Exists(options.DataDirectory);
            foreach (var file in PrivateFiles.PrepareDirectory(options.DataDirectory, ApiToken.FileName))
                Console.WriteLine($"packetscope: {file} could be read by others: it is 0600 now");
            // Tightened only when it holds our state (or nothing): never a shared directory such as /tmp or the current one.
            if (OperatingSystem.IsLinux() && existed && PrivateFiles.OthersMayUse(options.DataDirectory) && IsStateDirectory(options.DataDirectory))
            {
                File.SetUnixFileMode(options.DataDirectory, PrivateFiles.Directory);
                Console.WriteLine($"packetscope: the state directory {options.DataDirectory} could be entered by others: it is 0700 now");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return $"cannot create the state directory '{options.DataDirectory}': {e.Message}; pick another with --data DIR";
        }
        return null;
    }

    private static bool IsStateDirectory(string path) =>
        !Directory.EnumerateFileSystemEntries(path).Any()
        || File.Exists(Path.Combine(path, "packetscope.db")) || File.Exists(Path.Combine(path, ApiToken.FileName));

    /// <summary>The cluster port is free and every seed's host resolves.</summary>
    public static string? CheckCluster(NodeOptions options)
    {
        IPAddress[] bind;
        try
        {
            bind = IPAddress.TryParse(options.Hostname, out var a) ? [a] : Dns.GetHostAddresses(options.Hostname);
        }
        catch (SocketException e)
        {
            return $"--hostname: '{options.Hostname}' does not resolve ({e.Message}); give an address of this host";
        }
        if (bind.Length == 0)
            return $"--hostname: '{options.Hostname}' does not resolve; give an address of this host";
        if (options.ClusterPort != 0)
        {
            try
            {
                using var probe = new TcpListener(bind[0], options.ClusterPort);
                probe.Start();
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                return $"cannot listen for the cluster on {options.Hostname}:{options.ClusterPort}: the port is in use (another node?); pick another with --cluster-port";
            }
            catch (SocketException e)
            {
                return $"cannot listen for the cluster on {options.Hostname}:{options.ClusterPort}: {e.Message}; check --hostname (an address of this host) and --cluster-port";
            }
        }
        foreach (var (host, port) in options.Seeds)
        {
            try
            {
                if (!IPAddress.TryParse(host, out _) && Dns.GetHostAddresses(host).Length == 0)
                    return $"--seed {host}:{port}: the host name does not resolve; give the seed node's address";
            }
            catch (SocketException e)
            {
                return $"--seed {host}:{port}: the host name does not resolve ({e.Message}); give the seed node's address";
            }
        }
        return null;
    }

    /// <summary>The PostgreSQL journal answers. The message never repeats the connection string (it may hold a password).</summary>
    public static string? CheckPostgresql(string connectionString)
    {
        try
        {
            var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            if (builder.Timeout is 0 or > 10)
                builder.Timeout = 10;
            using var connection = new Npgsql.NpgsqlConnection(builder.ConnectionString);
            connection.Open();
            return null;
        }
        catch (ArgumentException e)
        {
            return $"--journal-connection: not a valid PostgreSQL connection string ({e.Message.Split('\n')[0]})";
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException)
        {
            return $"cannot reach the PostgreSQL journal: {e.Message}; check --journal-connection (host, port, database, user) and that the server runs";
        }
    }

    private static string? CheckSensor(NodeOptions options, string objectPath)
    {
        if (!OperatingSystem.IsLinux())
            return "PacketScope needs Linux (eBPF and XDP)";
        if (!NetInterface.IsRoot)
            return "must run as root to load BPF programs: run it with sudo (or as root)";
        try
        {
            Libbpf.EnsureAvailable();
        }
        catch (LibbpfMissingException e)
        {
            return e.Message;
        }
        if (!NetInterface.KernelHasBtf)
            return "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian 12's is)";
        if (!File.Exists(objectPath))
            return $"BPF object {objectPath} is missing: build it with `make` (needs clang, llvm, bpftool, libbpf-dev)";
        foreach (var iface in options.Interfaces)
            if (NetInterface.IndexOf(iface) == 0)
                return $"interface '{iface}' does not exist: pick one from `ip -br link` and pass it with --iface";
        return null;
    }
}
