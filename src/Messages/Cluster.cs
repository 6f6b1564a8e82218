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

// ---- Local only: the REST layer asks its own node's ClusterViewActor, which asks the other nodes with the
// messages above and in Flows.cs, Icmp.cs and Stats.cs. These never leave the node, so they are not IPacketScopeMessage.

/// <summary>Connections over every sensor of the cluster, or (Node set) over the node of that name only.</summary>
public sealed record GetClusterConnections(ConnectionQuery Query, string? Node = null);

/// <summary>
/// Total sums the matches of every node that answered; Connections is the top Limit of the cluster by the query's
/// sort. Answered and Missing name the nodes asked: Missing ones did not answer in time (or are unreachable).
/// </summary>
public sealed record ClusterConnectionsResponse(long Total, IReadOnlyList<FlowRecord> Connections, IReadOnlyList<string> Answered,
    IReadOnlyList<string> Missing);

public sealed record GetClusterIcmp(IcmpQuery Query, string? Node = null);

public sealed record ClusterIcmpResponse(long Total, IReadOnlyList<IcmpRecord> Messages, IReadOnlyList<string> Answered,
    IReadOnlyList<string> Missing);

public sealed record GetClusterStats(string? Node = null);

/// <summary>One StatsResponse per node that answered, by node name.</summary>
public sealed record ClusterStatsResponse(IReadOnlyList<StatsResponse> Nodes, IReadOnlyList<string> Missing);

/// <summary>Asks for every member of the cluster as this node sees it (/api/nodes).</summary>
public sealed record GetClusterMembers
{
    public static readonly GetClusterMembers Instance = new();
}

/// <summary>
/// One member: Status and Reachable from this node's cluster state; the rest from the member's last <see cref="NodeInfo"/>
/// (null until it has answered once). LastHeartbeat: when this node last got an answer from it.
/// </summary>
public sealed record ClusterMember(
    string? Node,
    string Address,
    IReadOnlyList<string> Roles,
    string Status,
    bool Reachable,
    bool Self,
    bool? Ready,
    IReadOnlyList<InterfaceStatus> Interfaces,
    string? Version,
    long? RuleSetVersion,
    DateTimeOffset? StartedAt,
    DateTimeOffset? LastHeartbeat);

public sealed record ClusterMembersResponse(IReadOnlyList<ClusterMember> Members);

/// <summary>Asks for the last NodeInfo of every current member that has answered: node names and their interfaces.</summary>
public sealed record GetClusterDirectory
{
    public static readonly GetClusterDirectory Instance = new();
}

public sealed record ClusterDirectory(IReadOnlyList<NodeInfo> Nodes);
