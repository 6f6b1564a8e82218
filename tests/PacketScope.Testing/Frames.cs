// Hand-built Ethernet frames: for what a namespace cannot produce here (VLAN tags without the 8021q
// module) and for the live-frame traffic generator of the benchmarks.
using System.Buffers.Binary;
using System.Net;

namespace PacketScope.Testing;

public static class Frames
{
    /// <summary>A locally administered unicast MAC no interface has: the stack drops the frame as PACKET_OTHERHOST.</summary>
    public static readonly byte[] OtherHostMac = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];

    /// <summary>
    /// Ethernet (+ VLAN tags, outer first, as (tpid, vid)) + IPv4 + UDP with <paramref name="payload"/> bytes,
    /// addressed to <see cref="OtherHostMac"/>.
    /// </summary>
    public static byte[] Udp4(IPAddress src, int sport, IPAddress dst, int dport, int payload, params (ushort Tpid, ushort Vid)[] tags)
    {
        var frame = new byte[14 + 4 * tags.Length + 20 + 8 + payload];
        var s = frame.AsSpan();
        OtherHostMac.CopyTo(s);
        s[6..12].Fill(0x06);
        var off = 12;
        foreach (var (tpid, vid) in tags)
        {
            BinaryPrimitives.WriteUInt16BigEndian(s[off..], tpid);
            BinaryPrimitives.WriteUInt16BigEndian(s[(off + 2)..], vid);
            off += 4;
        }
        BinaryPrimitives.WriteUInt16BigEndian(s[off..], 0x0800);
        var ip = s[(off + 2)..];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + payload));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], 0x1234);
        ip[8] = 64;
        ip[9] = 17;
        src.GetAddressBytes().CopyTo(ip[12..]);
        dst.GetAddressBytes().CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum(ip[..20]));
        var udp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, (ushort)sport);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], (ushort)dport);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload));
        return frame;
    }

    /// <summary>Ethernet + IPv4 + TCP (20-byte header, no options) with <paramref name="payload"/> bytes.</summary>
    public static byte[] Tcp4(IPAddress src, int sport, IPAddress dst, int dport, uint seq, uint ack, byte flags, ushort window, int payload)
    {
        var frame = new byte[14 + 20 + 20 + payload];
        var s = frame.AsSpan();
        OtherHostMac.CopyTo(s);
        s[6..12].Fill(0x06);
        BinaryPrimitives.WriteUInt16BigEndian(s[12..], 0x0800);
        var ip = s[14..];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 20 + payload));
        ip[8] = 64;
        ip[9] = 6;
        src.GetAddressBytes().CopyTo(ip[12..]);
        dst.GetAddressBytes().CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum(ip[..20]));
        var tcp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, (ushort)sport);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], (ushort)dport);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ack);
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], window);
        return frame;
    }

    /// <summary>Ethernet + IPv4 + ICMP of <paramref name="type"/>/<paramref name="code"/>, the 4 bytes after the checksum zero, then <paramref name="body"/>.</summary>
    public static byte[] Icmp4(IPAddress src, IPAddress dst, byte type, byte code, ReadOnlySpan<byte> body)
    {
        var frame = new byte[14 + 20 + 8 + body.Length];
        var s = frame.AsSpan();
        OtherHostMac.CopyTo(s);
        s[6..12].Fill(0x06);
        BinaryPrimitives.WriteUInt16BigEndian(s[12..], 0x0800);
        var ip = s[14..];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + body.Length));
        ip[8] = 64;
        ip[9] = 1;
        src.GetAddressBytes().CopyTo(ip[12..]);
        dst.GetAddressBytes().CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum(ip[..20]));
        var icmp = ip[20..];
        icmp[0] = type;
        icmp[1] = code;
        body.CopyTo(icmp[8..]);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum(icmp));
        return frame;
    }

    /// <summary>The Internet checksum (RFC 1071) of a header whose checksum field is zero.</summary>
    public static ushort Checksum(ReadOnlySpan<byte> header)
    {
        uint sum = 0;
        for (var i = 0; i + 1 < header.Length; i += 2)
            sum += BinaryPrimitives.ReadUInt16BigEndian(header[i..]);
        while (sum > 0xffff)
            sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)~sum;
    }
}
