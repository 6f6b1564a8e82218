// A veth pair in the root namespace, created for one benchmark and deleted afterwards (also on Ctrl-C).
// Names carry the creating process id (psb<pid hex>-<n><r|s>), so pairs left by a killed run are
// recognised and removed by the next run, and pairs of a run still alive are never touched.
using System.Globalization;
using PacketScope.Testing;

namespace PacketScope.Bench.Harness;

internal sealed class Veth : IDisposable
{
    private const string Prefix = "psb";
    private static int s_counter;
    private readonly IDisposable _cleanup;

    private Veth(string receiver, string sender)
    {
        Receiver = receiver;
        Sender = sender;
        _cleanup = Cleanup.Register($"delete veth {receiver}", () => Shell.TryRun("ip", "link", "del", receiver));
    }

    /// <summary>The end that receives (where the programs under test are attached).</summary>
    public string Receiver { get; }
    /// <summary>The end frames are sent out of.</summary>
    public string Sender { get; }
    public int ReceiverIndex => Native.NetInterface.IndexOf(Receiver);
    public int SenderIndex => Native.NetInterface.IndexOf(Sender);

    /// <summary>Creates the pair, both ends up, IPv6 off (no router solicitations or DAD in the counters).</summary>
    public static Veth Create()
    {
        RemoveStale();
        var id = $"{Prefix}{Environment.ProcessId:x}-{Interlocked.Increment(ref s_counter)}";
        Shell.Run("ip", "link", "add", id + "r", "type", "veth", "peer", "name", id + "s");
        var veth = new Veth(id + "r", id + "s");
        try
        {
            foreach (var end in new[] { veth.Receiver, veth.Sender })
            {
                File.WriteAllText($"/proc/sys/net/ipv6/conf/{end}/disable_ipv6", "1");
                Shell.Run("ip", "link", "set", end, "up");
            }
            return veth;
        }
        catch
        {
            veth.Dispose();
            throw;
        }
    }

    public ulong ReceiverStat(string name) =>
        ulong.Parse(File.ReadAllText($"/sys/class/net/{Receiver}/statistics/{name}").Trim(), CultureInfo.InvariantCulture);

    public void Dispose()
    {
        _cleanup.Dispose();
        Native.ConntrackProgram.RemovePins(Receiver); // what a killed node left pinned for it
    }

    /// <summary>Deletes pairs whose creating process no longer exists.</summary>
    private static void RemoveStale()
    {
        foreach (var dir in Directory.EnumerateDirectories("/sys/class/net", Prefix + "*"))
        {
            var name = Path.GetFileName(dir);
            var dash = name.IndexOf('-');
            if (dash < 0 || !name.EndsWith('r')
                || !int.TryParse(name.AsSpan(Prefix.Length, dash - Prefix.Length), NumberStyles.HexNumber, null, out var pid))
                continue;
            if (!Directory.Exists($"/proc/{pid}"))
            {
                Console.Error.WriteLine($"bench: removing {name}, left by an earlier run (process {pid} is gone)");
                Shell.TryRun("ip", "link", "del", name);
            }
        }
    }
}
