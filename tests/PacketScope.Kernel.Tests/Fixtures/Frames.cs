// Hand-built Ethernet frames for the cases a namespace cannot produce here (VLAN tags: no 8021q module).
using System.Buffers.Binary;
using System.Net;

namespace PacketScope.Kernel.Tests.Fixtures;

internal static class Frames
{
    /// <summary>Ethernet (+ VLAN tags, outer first, as (tpid, vid)) + IPv4 + UDP with <paramref name="payload"/> bytes.</summary>
    public static byte[] Udp4(IPAddress src, int sport, IPAddress dst, int dport, int payload, params (ushort Tpid, ushort Vid)[] tags)
    {
        var frame = new byte[14 + 4 * tags.Length + 20 + 8 + payload];
        var s = frame.AsSpan();
        s[0..6].Fill(0x02); // locally administered, unicast
        s[6..12].Fill(0x04);
        var off = 12;
        foreach (var (tpid, vid) in tags)
        {
            BinaryPrimitives.WriteUInt16BigEndian(s[off..], tpid);
            BinaryPrimitives.WriteUInt16BigEndian(s[(off + 2)..], vid);
            off += 4;
        }
        BinaryPrimitives.WriteUInt16BigEndian(s[off..], 0x0800);
        off += 2;
        var ip = s[off..];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + payload));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], 0x1234);
        ip[8] = 64;
        ip[9] = 17;
        src.GetAddressBytes().CopyTo(ip[12..]);
        dst.GetAddressBytes().CopyTo(ip[16..]);
        uint sum = 0;
        for (var i = 0; i < 20; i += 2)
            sum += BinaryPrimitives.ReadUInt16BigEndian(ip[i..]);
        while (sum > 0xffff)
            sum = (sum & 0xffff) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)~sum);
        var udp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, (ushort)sport);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], (ushort)dport);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload));
        return frame;
    }
}
