// A network namespace joined to the root namespace by a veth pair, unique per test, deleted on Dispose.
using System.Net;
using PacketScope.Testing;

namespace PacketScope.Kernel.Tests.Fixtures;

public sealed class VethNamespace : IDisposable
{
    private static int s_counter = Random.Shared.Next(0, 200);
    private static readonly int s_base = 100 + Environment.ProcessId % 100;

    private VethNamespace(string id, int subnet)
    {
        Id = id;
        Namespace = $"ps-{id}";
        HostInterface = $"ps{id}h";
        PeerInterface = $"ps{id}p";
        HostAddress = IPAddress.Parse($"10.{s_base}.{subnet}.1");
        PeerAddress = IPAddress.Parse($"10.{s_base}.{subnet}.2");
        HostAddress6 = IPAddress.Parse($"fd53:{s_base:x}:{subnet:x}::1");
        PeerAddress6 = IPAddress.Parse($"fd53:{s_base:x}:{subnet:x}::2");
    }

    public string Id { get; }
    /// <summary>The namespace holding the peer end.</summary>
    public string Namespace { get; }
    /// <summary>The end in the root namespace: the one PacketScope attaches to.</summary>
    public string HostInterface { get; }
    public string PeerInterface { get; }
    public IPAddress HostAddress { get; }
    public IPAddress PeerAddress { get; }
    public IPAddress HostAddress6 { get; }
    public IPAddress PeerAddress6 { get; }
    public int HostIndex => Native.NetInterface.IndexOf(HostInterface);

    public static VethNamespace Create()
    {
        var subnet = Interlocked.Increment(ref s_counter) % 250;
        var ns = new VethNamespace(Guid.NewGuid().ToString("N")[..6], subnet);
        try
        {
            ns.Setup();
            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    private void Setup()
    {
        Shell.Run("ip", "netns", "add", Namespace);
        CreateLink();
        // Port-unreachable replies are rate limited per namespace; tests count them exactly.
        InNamespace("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0");
        InNamespace("sysctl", "-qw", "net.ipv6.icmp.ratelimit=0");
    }

    /// <summary>Deletes the veth pair (as a driver unload or a container restart would).</summary>
    public void DeleteLink() => Shell.Run("ip", "link", "del", HostInterface);

    /// <summary>Creates the veth pair again under the same names and addresses (a new ifindex).</summary>
    public void CreateLink()
    {
        Shell.Run("ip", "link", "add", HostInterface, "type", "veth", "peer", "name", PeerInterface, "netns", Namespace);
        Shell.Run("ip", "addr", "add", $"{HostAddress}/24", "dev", HostInterface);
        Shell.Run("ip", "-6", "addr", "add", $"{HostAddress6}/64", "dev", HostInterface, "nodad");
        Shell.Run("ip", "link", "set", HostInterface, "up");
        InNamespace("ip", "link", "set", "lo", "up");
        InNamespace("ip", "addr", "add", $"{PeerAddress}/24", "dev", PeerInterface);
        InNamespace("ip", "-6", "addr", "add", $"{PeerAddress6}/64", "dev", PeerInterface, "nodad");
        InNamespace("ip", "link", "set", PeerInterface, "up");
    }

    public string InNamespace(string file, params string[] args) =>
        Shell.Run("ip", ["netns", "exec", Namespace, file, .. args]);

    /// <summary>Pings the peer from the root namespace: requests leave through TC egress, replies arrive through XDP.</summary>
    public void Ping(int count, bool ipv6 = false) =>
        Shell.Run("ping", ipv6 ? "-6" : "-4", "-c", count.ToString(), "-i", "0.2", "-W", "2", "-q", (ipv6 ? PeerAddress6 : PeerAddress).ToString());

    /// <summary>Pings the host from the namespace (requests arrive through XDP); true when every reply came back.</summary>
    public bool PingFromPeer(int count, bool ipv6 = false)
    {
        var target = (ipv6 ? HostAddress6 : HostAddress).ToString();
        var (code, _, _) = Shell.TryRun("ip", "netns", "exec", Namespace, "ping", ipv6 ? "-6" : "-4", "-c", count.ToString(),
            "-i", "0.2", "-W", "1", "-q", target);
        return code == 0;
    }

    public void Dispose()
    {
        Shell.TryRun("ip", "link", "del", HostInterface);
        Shell.TryRun("ip", "netns", "del", Namespace);
        // What a killed node left pinned for this veth (its maps would outlive the test).
        Native.ConntrackProgram.RemovePins(HostInterface);
    }
}
