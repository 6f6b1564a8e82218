// The connection tracker's kernel side: loads conntrack.bpf.o, attaches XDP (ingress) and tcx (egress);
// the filter rules it enforces at ingress are written through Filters.
using PacketScope.Native.Shared;

namespace PacketScope.Native;

public sealed class ConntrackProgram : IDisposable
{
    private readonly BpfObject _object;
    private readonly List<BpfLink> _links = new();

    private ConntrackProgram(BpfObject obj)
    {
        _object = obj;
        Flows = obj.Map(Conntrack.FlowsMap);
        Icmp = obj.Map(Conntrack.IcmpMap);
        Stats = obj.Map(Conntrack.StatsMap);
        IcmpHistogram = obj.Map(Conntrack.IcmpHistMap);
    }

    public BpfMap Flows { get; }
    public BpfMap Icmp { get; }
    public BpfMap Stats { get; }
    public BpfMap IcmpHistogram { get; }
    /// <summary>The Guarder's rule tables (valid once loaded).</summary>
    public FilterTables Filters { get; private set; } = null!;
    public IReadOnlyList<BpfLink> Links => _links;
    /// <summary>The XDP program, for BPF_PROG_RUN in tests and benchmarks.</summary>
    public BpfProgram IngressProgram => _object.Program(Conntrack.IngressProgram);

    /// <summary>The default object path: bpf/conntrack.bpf.o beside the running binaries.</summary>
    public static string DefaultObjectPath => System.IO.Path.Combine(AppContext.BaseDirectory, "bpf", Conntrack.ObjectFile);

    public static ConntrackProgram Load(string objectPath, uint maxFlows = Conntrack.DefaultMaxFlows, uint maxIcmp = Conntrack.DefaultMaxIcmp)
    {
        var obj = BpfObject.Open(objectPath);
        try
        {
            var program = new ConntrackProgram(obj);
            program.Flows.SetMaxEntries(maxFlows);
            program.Icmp.SetMaxEntries(maxIcmp);
            obj.Program(Conntrack.EgressProgram).SetExpectedAttachType(BpfAttachKind.TcxEgress);
            obj.Load();
            program.Filters = new FilterTables(obj);
            return program;
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }

    /// <summary>Attaches both hooks; on failure nothing stays attached.</summary>
    public void Attach(string ifname, int ifindex, XdpMode mode)
    {
        var xdp = _object.Program(Conntrack.IngressProgram).AttachXdp(ifname, ifindex, mode);
        try
        {
            var tc = _object.Program(Conntrack.EgressProgram).AttachTcx(ifname, ifindex, BpfAttachKind.TcxEgress);
            _links.Add(xdp);
            _links.Add(tc);
        }
        catch
        {
            xdp.Dispose();
            throw;
        }
    }

    public void Detach()
    {
        foreach (var link in _links)
            link.Dispose();
        _links.Clear();
    }

    public void Dispose()
    {
        Detach();
        _object.Dispose();
    }
}
