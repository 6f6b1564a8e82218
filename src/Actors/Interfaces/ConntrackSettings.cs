// Settings for one interface's tracker, from the node's options.
using PacketScope.Native;

namespace PacketScope.Actors.Interfaces;

public sealed record ConntrackSettings(
    string NodeName,
    TimeSpan Interval,
    XdpMode XdpMode,
    uint MaxFlows,
    uint MaxIcmp,
    string ObjectPath,
    TimeSpan FlowIdleTimeout,
    TimeSpan ClosedFlowTimeout)
{
    /// <summary>
    /// Entries per published chunk. 384 flow changes are about 81 KB: just below the large object heap's
    /// 85 KB, so a million-flow read's chunks die young in gen 0 instead of piling up until a gen 2 GC.
    /// </summary>
    public int ChunkSize { get; init; } = 384;

    /// <summary>Pin the datapath in bpffs (the node does; tests and benchmarks mostly do not): see <see cref="DatapathPins"/>.</summary>
    public DatapathPins? Pins { get; init; }

    /// <summary>Entries per BPF_MAP_LOOKUP_BATCH call.</summary>
    public int BatchSize { get; init; } = 4096;
}
