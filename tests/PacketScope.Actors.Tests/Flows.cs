// Builders for kernel flow structs in tests.
using System.Net;
using PacketScope.Native.Shared;

namespace PacketScope.Actors.Tests;

internal static unsafe class Flows
{
    public static ps_flow_key Key(string a, int portA, string b, int portB, byte proto = 6, ushort vlan = 0)
    {
        var ia = IPAddress.Parse(a).GetAddressBytes();
        var ib = IPAddress.Parse(b).GetAddressBytes();
        var k = new ps_flow_key
        {
            family = ia.Length == 16 ? Conntrack.AF_INET6 : Conntrack.AF_INET,
            proto = proto,
            port_a = (ushort)portA,
            port_b = (ushort)portB,
            vlan_id = vlan,
        };
        for (var i = 0; i < ia.Length; i++)
        {
            k.addr_a[i] = ia[i];
            k.addr_b[i] = ib[i];
        }
        return k;
    }

    public static ps_flow_value Value(ulong lastSeen, ulong packetsA = 1, ulong bytesA = 100, ulong packetsB = 0, ulong bytesB = 0,
        byte flagsA = 0, byte flagsB = 0, byte initiator = 0) => new()
    {
        first_seen_ns = 1,
        last_seen_ns = lastSeen,
        initiator = initiator,
        side_a = new ps_flow_side { packets = packetsA, bytes = bytesA, tcp_flags = flagsA },
        side_b = new ps_flow_side { packets = packetsB, bytes = bytesB, tcp_flags = flagsB },
    };
}
