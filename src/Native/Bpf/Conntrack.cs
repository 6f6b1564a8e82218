// The connection tracker's kernel side: loads conntrack.bpf.o, attaches XDP (ingress) and tcx (egress);
// the filter rules it enforces at ingress are written through Filters. With a pin directory the links and maps
// are pinned in bpffs, so a crashed node leaves the datapath enforcing and the next one takes it over.
using System.Security.Cryptography;
using System.Text;
using PacketScope.Native.Shared;

namespace PacketScope.Native;

/// <summary>What a start found pinned, and what it did with it.</summary>
public enum PinOutcome
{
    /// <summary>Not pinned (tests, benchmarks): the links live as long as the process.</summary>
    Unpinned,
    /// <summary>Nothing was pinned: attached afresh, and pinned.</summary>
    Attached,
    /// <summary>A previous node's links and maps: the maps taken over (flows, counters, rules), the programs replaced in place.</summary>
    Adopted,
    /// <summary>A previous node's links over maps of another layout: new maps, the programs replaced in place, the old maps removed.</summary>
    Replaced,
    /// <summary>Pins of a previous node whose links no longer held the interface (it was recreated): removed, attached afresh.</summary>
    CleanedUp,
}

/// <summary>How an interface was attached: the XDP mode it got (and why, when auto fell back), and what was pinned before.</summary>
public sealed record AttachOutcome(XdpMode Mode, string? Fallback, PinOutcome Pins, string? PinDetail);

public sealed class ConntrackProgram : IDisposable
{
    /// <summary>
    /// Raise when a map's meaning changes at the same size (a field reinterpreted): pins of another layout are never taken
    /// over. Sizes, types and capacities are part of the layout id already (<see cref="LayoutId"/>).
    /// </summary>
    public const int LayoutVersion = 1;

    /// <summary>Where every node pins its interfaces' datapaths: one directory per interface.</summary>
    public static string PinRoot => Path.Combine(BpfFs.MountPoint, "packetscope");

    public static string PinDirectory(string ifname) => Path.Combine(PinRoot, ifname);

    private const string XdpPin = "link-xdp";
    private const string TcxPin = "link-tcx";

    private readonly BpfObject _object;
    private readonly List<BpfLink> _links = new();
    private readonly string? _pinDirectory;
    private readonly string? _mapsDirectory;
    private readonly bool _mapsAdopted;

    private ConntrackProgram(BpfObject obj, string? pinDirectory, string? mapsDirectory, bool mapsAdopted)
    {
        _object = obj;
        _pinDirectory = pinDirectory;
        _mapsDirectory = mapsDirectory;
        _mapsAdopted = mapsAdopted;
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

    /// <summary>
    /// Loads the object. With <paramref name="pinDirectory"/>, maps pinned there by an earlier node of the same layout are
    /// taken over (their contents go on), and new maps are pinned there.
    /// </summary>
    public static ConntrackProgram Load(string objectPath, uint maxFlows = Conntrack.DefaultMaxFlows, uint maxIcmp = Conntrack.DefaultMaxIcmp,
        string? pinDirectory = null)
    {
        var obj = BpfObject.Open(objectPath);
        try
        {
            obj.Map(Conntrack.FlowsMap).SetMaxEntries(maxFlows);
            obj.Map(Conntrack.IcmpMap).SetMaxEntries(maxIcmp);
            obj.Program(Conntrack.EgressProgram).SetExpectedAttachType(BpfAttachKind.TcxEgress);
            string? mapsDirectory = null;
            var adopted = false;
            List<BpfMapDefinition> pinned = [];
            if (pinDirectory is not null)
            {
                BpfFs.EnsureMounted();
                Directory.CreateDirectory(pinDirectory);
                // Internal maps (.rodata, .bss) hold the loader's settings, not state: always the new object's own.
                pinned = obj.MapDefinitions().Where(d => !d.Internal).ToList();
                mapsDirectory = Path.Combine(pinDirectory, "maps-" + LayoutId(pinned));
                adopted = ReusePinnedMaps(obj, mapsDirectory, pinned);
            }
            obj.Load();
            if (mapsDirectory is not null && !adopted)
            {
                Directory.CreateDirectory(mapsDirectory);
                foreach (var map in pinned)
                    BpfFs.Pin(obj.Map(map.Name).Fd, Path.Combine(mapsDirectory, map.Name));
            }
            var program = new ConntrackProgram(obj, pinDirectory, mapsDirectory, adopted);
            program.Filters = new FilterTables(obj, adoptKernelState: adopted);
            return program;
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }

    /// <summary>The layout's name: <see cref="LayoutVersion"/> and a hash of every pinned map's name and shape.</summary>
    public static string LayoutId(IEnumerable<BpfMapDefinition> maps)
    {
        var text = new StringBuilder($"v{LayoutVersion}");
        foreach (var m in maps.OrderBy(m => m.Name, StringComparer.Ordinal))
            text.Append($";{m.Name}:{m.Type}:{m.KeySize}:{m.ValueSize}:{m.MaxEntries}:{m.Flags}");
        return $"v{LayoutVersion}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..12]}";
    }

    // All or nothing: a set pinned half-way (a crash while pinning) is removed and made afresh.
    private static bool ReusePinnedMaps(BpfObject obj, string mapsDirectory, List<BpfMapDefinition> maps)
    {
        if (!Directory.Exists(mapsDirectory))
            return false;
        var fds = maps.Select(m => BpfFs.Open(Path.Combine(mapsDirectory, m.Name))).ToList();
        try
        {
            if (fds.Any(fd => fd is null))
            {
                BpfFs.Remove(mapsDirectory);
                return false;
            }
            for (var i = 0; i < maps.Count; i++)
                obj.ReuseMap(maps[i].Name, fds[i]!); // libbpf keeps a duplicate of the fd
            return true;
        }
        finally
        {
            foreach (var fd in fds)
                fd?.Dispose();
        }
    }

    /// <summary>
    /// Attaches both hooks. Pinned links of an earlier node on this interface get this object's programs in place
    /// (bpf_link_update: no packet sees the hooks empty); otherwise new links are made (and pinned). On failure, nothing
    /// this call attached stays attached, and what an earlier node pinned stays as it was.
    /// </summary>
    public AttachOutcome Attach(string ifname, int ifindex, XdpMode mode)
    {
        var ingress = _object.Program(Conntrack.IngressProgram);
        var egress = _object.Program(Conntrack.EgressProgram);
        var made = new List<BpfLink>();
        var adopted = new List<BpfLink>();
        var notes = new List<string>();
        try
        {
            XdpMode attached;
            string? fallback = null;
            var xdp = OpenPinnedLink(XdpPin, BpfFs.LinkTypeXdp, ifindex, notes);
            if (xdp is not null && mode != XdpMode.Auto && BpfProgram.AttachedXdpMode(ifindex) is var running && running != mode)
            {
                // The earlier node ran in another mode: modes cannot be switched in place (native and generic exclude
                // each other), so this is the one case that detaches, for the moment between two attaches.
                notes.Add($"the pinned XDP link ran in {running?.ToString().ToLowerInvariant() ?? "no"} mode, "
                    + $"re-attached in {mode.ToString().ToLowerInvariant()} mode");
                xdp.Release();
                xdp = null;
            }
            if (xdp is not null)
            {
                adopted.Add(xdp);
                xdp.Update(ingress);
                attached = BpfProgram.AttachedXdpMode(ifindex) ?? XdpMode.Generic;
            }
            else
            {
                xdp = ingress.AttachXdp(ifname, ifindex, mode, out attached, out fallback);
                made.Add(xdp);
                PinLink(xdp, XdpPin);
            }

            var tcx = OpenPinnedLink(TcxPin, BpfFs.LinkTypeTcx, ifindex, notes);
            if (tcx is not null)
            {
                adopted.Add(tcx);
                tcx.Update(egress);
            }
            else
            {
                tcx = egress.AttachTcx(ifname, ifindex, BpfAttachKind.TcxEgress);
                made.Add(tcx);
                PinLink(tcx, TcxPin);
            }
            _links.Add(xdp);
            _links.Add(tcx);
            if (_pinDirectory is null)
                return new AttachOutcome(attached, fallback, PinOutcome.Unpinned, null);

            // Maps of another layout that the replaced programs used: nothing references them any more.
            var staleMaps = Directory.GetDirectories(_pinDirectory, "maps-*").Where(d => d != _mapsDirectory).ToList();
            foreach (var dir in staleMaps)
                BpfFs.Remove(dir);

            PinOutcome outcome;
            if (adopted.Count == 0)
                outcome = notes.Count > 0 || staleMaps.Count > 0 ? PinOutcome.CleanedUp : PinOutcome.Attached;
            else if (_mapsAdopted)
                outcome = PinOutcome.Adopted;
            else
            {
                outcome = PinOutcome.Replaced;
                notes.Add(staleMaps.Count > 0
                    ? $"the pinned maps were of another layout ({string.Join(", ", staleMaps.Select(Path.GetFileName))}): flows and counters start afresh"
                    : "the pinned links had no maps of this layout: flows and counters start afresh");
            }
            return new AttachOutcome(attached, fallback, outcome, notes.Count == 0 ? null : string.Join("; ", notes));
        }
        catch
        {
            foreach (var link in made)
                link.Release();
            foreach (var link in adopted)
                link.Dispose();
            _links.Clear();
            throw;
        }
    }

    private void PinLink(BpfLink link, string name)
    {
        if (_pinDirectory is not null)
            link.Pin(Path.Combine(_pinDirectory, name));
    }

    // A pinned link still holding this interface, or null (none, or not pinning); a stale one (its device gone or
    // recreated) is removed.
    private BpfLink? OpenPinnedLink(string name, uint type, int ifindex, List<string> notes)
    {
        if (_pinDirectory is null)
            return null;
        var path = Path.Combine(_pinDirectory, name);
        var fd = BpfFs.Open(path);
        if (fd is null)
            return null;
        var (linkType, linkIfindex) = BpfFs.LinkInfo(fd.Fd, $"read pinned link {path}");
        if (linkType == type && linkIfindex == ifindex)
            return new BpfLink(fd, $"pinned link {path}", path);
        fd.Dispose();
        File.Delete(path);
        notes.Add(linkIfindex == 0
            ? $"removed the stale pin {name} (its interface had gone)"
            : $"removed the stale pin {name} (interface index {linkIfindex}, now {ifindex})");
        return null;
    }

    /// <summary>
    /// Removes what an earlier node pinned for this interface (a node that will not come back): its links detach.
    /// Returns what was there, or null when nothing was.
    /// </summary>
    public static string? RemovePins(string ifname)
    {
        var dir = PinDirectory(ifname);
        if (!BpfFs.IsMounted || !Directory.Exists(dir))
            return null;
        var what = string.Join(", ", Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order());
        BpfFs.Remove(dir);
        return what;
    }

    /// <summary>Closes this process's links: unpinned ones detach, pinned ones stay (a failed tracker's next start takes them over).</summary>
    public void Detach()
    {
        foreach (var link in _links)
            link.Dispose();
        _links.Clear();
    }

    /// <summary>Detaches for good: the pins are removed, so the links detach and the maps are freed.</summary>
    public void Release()
    {
        foreach (var link in _links)
            link.Release();
        _links.Clear();
        if (_pinDirectory is not null)
            BpfFs.Remove(_pinDirectory);
        Dispose();
    }

    /// <summary>
    /// After a failed start: closes everything, and removes the pins unless links of an earlier node are still pinned
    /// (they go on enforcing; the next start takes them over).
    /// </summary>
    public void ReleaseUnlessAttached()
    {
        Detach();
        if (_pinDirectory is not null && Directory.Exists(_pinDirectory) && !Directory.EnumerateFiles(_pinDirectory, "link-*").Any())
            BpfFs.Remove(_pinDirectory);
        _object.Dispose();
    }

    public void Dispose()
    {
        Detach();
        _object.Dispose();
    }
}
