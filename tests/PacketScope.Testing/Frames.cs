// Hand-built Ethernet frames: for what a namespace cannot produce here (VLAN tags without the 8021q
// module, TCP segments in a chosen order, ICMP errors) and for the benchmarks' live-frame sender.
using System.Buffers.Binary;
using System.Net;

namespace PacketScope.Testing;

public static class Frames
{
    /// <summary>A locally administered unicast MAC no interface has: the stack drops the frame as PACKET_OTHERHOST.</summary>
    public static readonly byte[] OtherHostMac = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];

    private const byte Udp = 17, Tcp = 6, Icmp = 1;

    /// <summary>
    /// Ethernet (+ VLAN tags, outer first, as (tpid, vid)) + IPv4 + UDP with <paramref name="payload"/> bytes,
    /// addressed to <see cref="OtherHostMac"/>.
    /// </summary>
    public static byte[] Udp4(IPAddress src, int sport, IPAddress dst, int dport, int payload, params (ushort Tpid, ushort Vid)[] tags)
    {
        var frame = Ipv4(src, dst, Udp, 8 + payload, tags, out var l4);
        var udp = frame.AsSpan(l4);
        BinaryPrimitives.WriteUInt16BigEndian(udp, (ushort)sport);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], (ushort)dport);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload));
        return frame;
    }

    /// <summary>Ethernet + IPv4 + TCP (20-byte header, no options) with <paramref name="payload"/> bytes.</summary>
    public static byte[] Tcp4(IPAddress src, int sport, IPAddress dst, int dport, uint seq, uint ack, byte flags, ushort window, int payload)
    {
        var frame = Ipv4(src, dst, Tcp, 20 + payload, [], out var l4);
        var tcp = frame.AsSpan(l4);
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
        var frame = Ipv4(src, dst, Icmp, 8 + body.Length, [], out var l4);
        var icmp = frame.AsSpan(l4);
        icmp[0] = type;
        icmp[1] = code;
        body.CopyTo(icmp[8..]);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum(icmp));
        return frame;
    }

    /// <summary>A frame with Ethernet, the tags and an IPv4 header filled in; <paramref name="l4"/> is where the L4 header goes.</summary>
    private static byte[] Ipv4(IPAddress src, IPAddress dst, byte protocol, int l4Length, (ushort Tpid, ushort Vid)[] tags, out int l4)
    {
        var frame = new byte[14 + 4 * tags.Length + 20 + l4Length];
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
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + l4Length));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], 0x1234);
        ip[8] = 64;
        ip[9] = protocol;
        src.GetAddressBytes().CopyTo(ip[12..]);
        dst.GetAddressBytes().CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum(ip[..20]));
        l4 = off + 2 + 20;
        return frame;
    }

    /// <summary>
    /// Ethernet + IPv6 (+ <paramref name="extensionHeaders"/> empty destination-options headers) + UDP with
    /// <paramref name="payload"/> bytes. Checksums are left zero: nothing on the XDP path checks them.
    /// </summary>
    public static byte[] Udp6(IPAddress src, int sport, IPAddress dst, int dport, int payload, int extensionHeaders = 0)
    {
        const byte destinationOptions = 60;
        var l4Length = 8 + payload;
        var frame = new byte[14 + 40 + 8 * extensionHeaders + l4Length];
        var s = frame.AsSpan();
        OtherHostMac.CopyTo(s);
        s[6..12].Fill(0x06);
        BinaryPrimitives.WriteUInt16BigEndian(s[12..], 0x86DD);
        var ip = s[14..];
        ip[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(8 * extensionHeaders + l4Length));
        ip[6] = extensionHeaders > 0 ? destinationOptions : Udp;
        ip[7] = 64;
        src.GetAddressBytes().CopyTo(ip[8..]);
        dst.GetAddressBytes().CopyTo(ip[24..]);
        var pos = 14 + 40;
        for (var i = 0; i < extensionHeaders; i++, pos += 8)
        {
            frame[pos] = i + 1 < extensionHeaders ? destinationOptions : Udp; // next header; length 0 = 8 bytes
            frame[pos + 2] = 1; // a PadN option filling the rest
            frame[pos + 3] = 4;
        }
        var udp = frame.AsSpan(pos);
        BinaryPrimitives.WriteUInt16BigEndian(udp, (ushort)sport);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], (ushort)dport);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)l4Length);
        return frame;
    }

    /// <summary>The Internet checksum (RFC 1071) of a header whose checksum field is zero.</summary>
    public static ushort Checksum(ReadOnlySpan<byte> header)
    {
        uint sum = 0;
        for (var i = 0; i + 1 < header.Length; i += 2)
            sum += BinaryPrimitives.ReadUInt16BigEndian(header[i..]);
        if ((header.Length & 1) != 0)
            sum += (uint)header[^1] << 8;
        while (sum > 0xffff)
            sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)~sum;
    }
}
