// Interface lookup and what is attached to it (used by preflight checks and tests).
namespace PacketScope.Native;

public static unsafe class NetInterface
{
    /// <summary>The interface index, or 0 when no interface has that name.</summary>
    public static int IndexOf(string name) => (int)Interop.Libc.if_nametoindex(name);

    public static bool IsRoot => Interop.Libc.geteuid() == 0;

    public static bool KernelHasBtf => File.Exists("/sys/kernel/btf/vmlinux");

    /// <summary>
    /// Whether the driver takes 802.1Q tags out of received frames before XDP runs (rx-vlan-offload):
    /// then XDP cannot see the VLAN id. Null when the driver does not say (no ethtool support).
    /// </summary>
    public static bool? StripsVlanOnReceive(string name)
    {
        const uint ETHTOOL_GFLAGS = 0x25, ETH_FLAG_RXVLAN = 1u << 8;
        var fd = Interop.Libc.socket(Interop.Libc.AF_INET, Interop.Libc.SOCK_DGRAM, 0);
        if (fd < 0)
            return null;
        try
        {
            var value = stackalloc uint[2];
            value[0] = ETHTOOL_GFLAGS;
            value[1] = 0;
            var ifr = new Interop.Libc.ifreq_data { ifr_data = value };
            var bytes = System.Text.Encoding.ASCII.GetBytes(name);
            if (bytes.Length > 15)
                return null;
            for (var i = 0; i < bytes.Length; i++)
                ifr.ifr_name[i] = bytes[i];
            if (Interop.Libc.ioctl(fd, Interop.Libc.SIOCETHTOOL, &ifr) != 0)
                return null;
            return (value[1] & ETH_FLAG_RXVLAN) != 0;
        }
        finally
        {
            Interop.Libc.close(fd);
        }
    }

    /// <summary>The id of the XDP program attached to the interface (any mode), 0 if none.</summary>
    public static uint XdpProgramId(int ifindex)
    {
        uint id = 0;
        BpfException.ThrowIfNegative(Interop.Libbpf.bpf_xdp_query_id(ifindex, 0, &id), $"query XDP on ifindex {ifindex}");
        return id;
    }

    /// <summary>Ids of the programs attached to the interface's tcx hook.</summary>
    public static uint[] TcxProgramIds(int ifindex, BpfAttachKind kind)
    {
        var ids = stackalloc uint[64];
        uint count = 64, attachFlags = 0;
        var rc = Interop.Libbpf.bpf_prog_query(ifindex, kind.ToAttachType(), 0, &attachFlags, ids, &count);
        BpfException.ThrowIfNegative(rc, $"query tcx on ifindex {ifindex}");
        return new ReadOnlySpan<uint>(ids, (int)count).ToArray();
    }
}
