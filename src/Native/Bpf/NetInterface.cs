// Interface lookup and what is attached to it (used by preflight checks and tests).
namespace PacketScope.Native;

public static unsafe class NetInterface
{
    /// <summary>The interface index, or 0 when no interface has that name.</summary>
    public static int IndexOf(string name) => (int)Interop.Libc.if_nametoindex(name);

    public static bool IsRoot => Interop.Libc.geteuid() == 0;

    public static bool KernelHasBtf => File.Exists("/sys/kernel/btf/vmlinux");

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
