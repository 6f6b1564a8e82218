// Whether the node's numbers are complete: every interface attached with its rules in the kernel. Until then the data
// endpoints answer 503 with the state, so that an answer never leaves out what was sent right after it.
namespace PacketScope.Web.Hosting;

public sealed class NodeReadiness
{
    private volatile bool _ready;

    public bool IsReady => _ready;

    public void MarkReady() => _ready = true;
}
