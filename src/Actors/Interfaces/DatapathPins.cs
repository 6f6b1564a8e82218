// Whether this node's datapath outlives it: pinned in bpffs, a crash or a down leaves the programs enforcing the
// last rules and counting, and the next node takes them over. A stop the operator asked for (SIGTERM, SIGINT)
// releases everything; a node that gives up starting releases only what it attached itself.
namespace PacketScope.Actors.Interfaces;

public sealed class DatapathPins
{
    private volatile int _release; // 0: keep, 1: release what this node attached afresh, 2: release everything

    /// <summary>
    /// The node is stopping for good (asked to: the host is stopping before the actor system): detach and unpin on the way
    /// out, unless the node already said to release only its own.
    /// </summary>
    public void ReleaseOnStop()
    {
        if (_release == 0)
            _release = 2;
    }

    /// <summary>The node gives up starting: what it attached afresh goes; what it took over from an earlier node stays enforcing.</summary>
    public void ReleaseOwnOnStop()
    {
        if (_release == 0)
            _release = 1;
    }

    /// <summary>Whether an interface should release its pins as it stops (it took them over from an earlier node, or made them).</summary>
    public bool ShouldRelease(bool adopted) => _release == 2 || _release == 1 && !adopted;
}
