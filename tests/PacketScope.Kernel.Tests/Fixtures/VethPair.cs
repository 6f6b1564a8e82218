// A veth pair with both ends in the root namespace, for crafted frames sent with BPF_PROG_RUN live frames.
using PacketScope.Testing;

namespace PacketScope.Kernel.Tests.Fixtures;

public sealed class VethPair : IDisposable
{
    private VethPair(string id)
    {
        Receiver = $"ps{id}r";
        Sender = $"ps{id}s";
    }

    /// <summary>The end PacketScope attaches to.</summary>
    public string Receiver { get; }
    /// <summary>The end frames are sent from.</summary>
    public string Sender { get; }

    public static VethPair Create()
    {
        var pair = new VethPair(Guid.NewGuid().ToString("N")[..6]);
        try
        {
            Shell.Run("ip", "link", "add", pair.Receiver, "type", "veth", "peer", "name", pair.Sender);
            // Quiet ends: no IPv6 router solicitations mixed into the frames a test counts.
            foreach (var end in new[] { pair.Receiver, pair.Sender })
                Shell.Run("sysctl", "-qw", $"net.ipv6.conf.{end}.disable_ipv6=1");
            Shell.Run("ip", "link", "set", pair.Receiver, "up");
            Shell.Run("ip", "link", "set", pair.Sender, "up");
            return pair;
        }
        catch
        {
            pair.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Shell.TryRun("ip", "link", "del", Receiver);
        Native.ConntrackProgram.RemovePins(Receiver); // what a killed node left pinned for it
    }
}
