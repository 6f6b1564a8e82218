// What the nodes of a cluster ask each other: the rule set each node holds, and each node's own status.
namespace PacketScope.Messages;

/// <summary>
/// Asks a node's GuardActor for the newest rule set it holds; answered with <see cref="FilterRuleSetChanged"/>
/// (Version -1 when it holds none yet). A rule store that starts on a new node adopts the newest set in the cluster.
/// </summary>
public sealed record GetHeldRuleSet : IPacketScopeMessage
{
    public static readonly GetHeldRuleSet Instance = new();
}

/// <summary>Asks a node for its <see cref="NodeInfo"/>.</summary>
public sealed record GetNodeInfo : IPacketScopeMessage
{
    public static readonly GetNodeInfo Instance = new();
}

/// <summary>
/// One node as it sees itself: its cluster address and roles, whether its interfaces are attached with the
/// current rules, the software version, and the rule-set version it has in its kernel tables (-1: none yet).
/// </summary>
public sealed record NodeInfo(
    string Node,
    string Address,
    IReadOnlyList<string> Roles,
    bool Ready,
    IReadOnlyList<InterfaceStatus> Interfaces,
    string Version,
    long RuleSetVersion,
    DateTimeOffset StartedAt) : IPacketScopeMessage;
