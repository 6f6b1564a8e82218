// A program inside a BpfObject: configure before load, attach after.
namespace PacketScope.Native;

public enum XdpMode
{
    /// <summary>Native, and generic when the driver refuses native (EOPNOTSUPP, EINVAL, ERANGE; never on EBUSY).</summary>
    Auto,
    /// <summary>Driver mode: before the kernel allocates an skb. Refused by drivers that cannot (or not in this configuration).</summary>
    Native,
    /// <summary>Generic (skb) mode: every driver, later in the receive path and slower.</summary>
    Generic,
}

public sealed class BpfProgram
{
    private const uint XDP_FLAGS_SKB_MODE = 1u << 1;
    private const uint XDP_FLAGS_DRV_MODE = 1u << 2;

    private readonly BpfObject _owner;
    private readonly nint _prog;

    internal BpfProgram(BpfObject owner, nint prog, string name)
    {
        _owner = owner;
        _prog = prog;
        Name = name;
    }

    public string Name { get; }

    public int Fd
    {
        get
        {
            _owner.EnsureLoaded($"get fd of {Name}");
            return BpfException.ThrowIfNegative(Interop.Libbpf.bpf_program__fd(_prog), $"get fd of {Name}");
        }
    }

    /// <summary>tcx attach needs the program's expected attach type set before load.</summary>
    public void SetExpectedAttachType(BpfAttachKind kind) =>
        BpfException.ThrowIfNegative(
            Interop.Libbpf.bpf_program__set_expected_attach_type(_prog, kind.ToAttachType()),
            $"set attach type of {Name}");

    /// <summary>Attaches an XDP program through a bpf_link: disposing the link (or the process dying) detaches it.</summary>
    public BpfLink AttachXdp(string ifname, int ifindex, XdpMode mode) => AttachXdp(ifname, ifindex, mode, out _, out _);

    /// <summary>
    /// Attaches in the mode asked for. Auto tries native and falls back to generic when the driver refuses native
    /// (EOPNOTSUPP: no native support in this configuration, as virtio_net with offloads or too few queues; EINVAL;
    /// ERANGE: an MTU too large, as a veth whose peer has MTU 60000), saying why in <paramref name="fallback"/>.
    /// EBUSY (another program is attached) is never a reason to fall back. Native and generic stay strict.
    /// </summary>
    public BpfLink AttachXdp(string ifname, int ifindex, XdpMode mode, out XdpMode attached, out string? fallback)
    {
        fallback = null;
        var what = $"attach XDP program {Name} to {ifname} ({mode.ToString().ToLowerInvariant()} mode)";
        if (mode != XdpMode.Auto)
        {
            attached = mode;
            return Link(ifindex, BpfAttachType.Xdp, mode == XdpMode.Native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, what);
        }
        try
        {
            attached = XdpMode.Native;
            return Link(ifindex, BpfAttachType.Xdp, XDP_FLAGS_DRV_MODE, what);
        }
        catch (BpfException e) when (e.Errno is BpfException.EOPNOTSUPP or BpfException.EINVAL or BpfException.ERANGE)
        {
            fallback = $"the driver refused native XDP: {ErrnoText.Message(e.Errno)}";
            attached = XdpMode.Generic;
            return Link(ifindex, BpfAttachType.Xdp, XDP_FLAGS_SKB_MODE,
                $"attach XDP program {Name} to {ifname} (auto mode: generic, native was refused)");
        }
    }

    /// <summary>The mode of the XDP program attached to an interface now: native, generic, or null for none.</summary>
    public static unsafe XdpMode? AttachedXdpMode(int ifindex)
    {
        uint id = 0;
        if (Interop.Libbpf.bpf_xdp_query_id(ifindex, (int)XDP_FLAGS_DRV_MODE, &id) == 0 && id != 0)
            return XdpMode.Native;
        id = 0;
        if (Interop.Libbpf.bpf_xdp_query_id(ifindex, (int)XDP_FLAGS_SKB_MODE, &id) == 0 && id != 0)
            return XdpMode.Generic;
        return null;
    }

    /// <summary>Attaches a SCHED_CLS program to tcx (kernel 6.6+): a link, so it dies with the process too.</summary>
    public BpfLink AttachTcx(string ifname, int ifindex, BpfAttachKind kind) =>
        Link(ifindex, kind.ToAttachType(), 0, $"attach TC program {Name} to {ifname} {kind.ToString().ToLowerInvariant()}");

    /// <summary>Attaches to a kernel tracepoint, e.g. ("net", "netif_receive_skb"); disposing the link detaches.</summary>
    public BpfLink AttachTracepoint(string category, string name)
    {
        var operation = $"attach {Name} to tracepoint {category}:{name}";
        _owner.EnsureLoaded(operation);
        Tracefs.EnsureMounted();
        var link = BpfException.ThrowIfNull(Interop.Libbpf.bpf_program__attach_tracepoint(_prog, category, name), operation);
        return new BpfLink(new SafeBpfLinkHandle(link), operation);
    }

    /// <summary>Attaches to a raw tracepoint (raw_tp), e.g. "netif_receive_skb".</summary>
    public BpfLink AttachRawTracepoint(string name)
    {
        var operation = $"attach {Name} to raw tracepoint {name}";
        _owner.EnsureLoaded(operation);
        var link = BpfException.ThrowIfNull(Interop.Libbpf.bpf_program__attach_raw_tracepoint(_prog, name), operation);
        return new BpfLink(new SafeBpfLinkHandle(link), operation);
    }

    private BpfLink Link(int ifindex, BpfAttachType type, uint flags, string operation)
    {
        var opts = new Interop.Libbpf.bpf_link_create_opts
        {
            sz = (nuint)System.Runtime.CompilerServices.Unsafe.SizeOf<Interop.Libbpf.bpf_link_create_opts>(),
            flags = flags,
        };
        var fd = BpfException.ThrowIfNegative(Interop.Libbpf.bpf_link_create(Fd, ifindex, type, in opts), operation);
        return new BpfLink(new SafeFileDescriptorHandle(fd), operation);
    }
}

public enum BpfAttachKind
{
    TcxIngress,
    TcxEgress,
}

internal static class BpfAttachKindExtensions
{
    internal static BpfAttachType ToAttachType(this BpfAttachKind kind) =>
        kind == BpfAttachKind.TcxIngress ? BpfAttachType.TcxIngress : BpfAttachType.TcxEgress;
}
