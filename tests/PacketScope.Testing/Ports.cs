// Free loopback ports for processes the tests and benchmarks start (nodes, PostgreSQL) and that bind them later.
using System.Net;
using System.Net.Sockets;

namespace PacketScope.Testing;

public static class Ports
{
    private static readonly HashSet<int> s_handedOut = [];

    /// <summary>
    /// A free loopback port, below the kernel's ephemeral range (32768-60999): a port the kernel picks for a port-0
    /// bind or an outgoing connection before the caller binds this one can never be it, and no two callers in this
    /// process get the same one.
    /// </summary>
    public static int Free()
    {
        lock (s_handedOut)
        {
            for (var attempt = 0; attempt < 1000; attempt++)
            {
                var port = Random.Shared.Next(20_000, 32_000);
                if (s_handedOut.Contains(port))
                    continue;
                try
                {
                    using var l = new TcpListener(IPAddress.Loopback, port);
                    l.Start();
                }
                catch (SocketException)
                {
                    continue; // in use
                }
                s_handedOut.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException("no free port between 20000 and 32000");
    }
}
