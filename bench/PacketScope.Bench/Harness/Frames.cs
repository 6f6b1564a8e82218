// Hand-built Ethernet + IPv4 + UDP frames for the live-frame sender.
using System.Buffers.Binary;
using System.Net;

namespace PacketScope.Bench.Harness;

internal static class Frames
{
    /// <summary>Not the receiver's MAC: the stack drops the frame at once as PACKET_OTHERHOST (ip_rcv).</summary>
    public static readonly byte[] OtherHostMac = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];

    /// <summary>A frame of exactly <paramref name="frameLength"/> bytes (no FCS): 14 Ethernet + 20 IPv4 + 8 UDP + payload.</summary>
    public static byte[] Udp4(ReadOnlySpan<byte> dstMac, IPAddress src, int sport, IPAddress dst, int dport, int frameLength = 64)
    {
        var frame = new byte[frameLength];
        var s = frame.AsSpan();
        dstMac.CopyTo(s);
        s[6..12].Fill(0x06); // a locally administered unicast source
        BinaryPrimitives.WriteUInt16BigEndian(s[12..], 0x0800);
        var ip = s[14..];
        var ipLength = frameLength - 14;
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)ipLength);
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
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(ipLength - 20)); // checksum 0: none, valid for IPv4
        return frame;
    }
}
