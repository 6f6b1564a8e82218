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
    /// <summary>Entries per published chunk: bounds the memory of one telemetry message.</summary>
    public int ChunkSize { get; init; } = 4096;
}
