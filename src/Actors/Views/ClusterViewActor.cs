// The cluster's view, one per node: answers cluster-wide queries by asking every sensor's view in parallel and merging
// their summaries, answers GetNodeInfo for this node, and polls every member's NodeInfo for /api/nodes.
using System.Reflection;
using Akka.Actor;
using Akka.Cluster;
using PacketScope.Actors.Guard;
using PacketScope.Messages;

namespace PacketScope.Actors.Views;

/// <summary>
/// AskTimeout: how long one node may take to answer a query or a NodeInfo poll; PollInterval: how often every member's
/// NodeInfo is asked; RemovedRetention: how long a member that left stays listed (status "removed").
/// </summary>
public sealed record ClusterViewSettings(TimeSpan AskTimeout, TimeSpan PollInterval, TimeSpan RemovedRetention)
{
    public static readonly ClusterViewSettings Default = new(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(10));
}

/// <summary>What one node answered to a fan-out; Response null: it did not answer in time, or was not asked (unreachable).</summary>
public sealed record NodeAnswer<T>(string Node, T? Response) where T : class;

public sealed class ClusterViewActor : ReceiveActor, IWithTimers
{
    public const string Name = "cluster-view";
    public const string SensorRole = "sensor";

    private sealed class Poll
    {
        public static readonly Poll Instance = new();
    }

    /// <summary>
    /// An answer from the member at Address (Info set when it was a NodeInfo), or none (Info null, Failed); Polled: the
    /// incarnation a NodeInfo poll was for.
    /// </summary>
    private sealed record Heard(Address Address, DateTimeOffset At, NodeInfo? Info, bool Failed = false, UniqueAddress? Polled = null);

    private sealed class Known
    {
        public NodeInfo? Info;
        public DateTimeOffset? LastHeartbeat;
    }

    private sealed record Gone(Member Member, Known Last, DateTimeOffset At);

    private readonly string _node;
    private readonly IReadOnlyList<string> _roles;
    private readonly IReadOnlyList<string> _interfaces;
    private readonly DateTimeOffset _startedAt;
    private readonly string _version;
    private readonly IActorRef _view;
    private readonly GuardState _guard;
    private readonly ClusterViewSettings _settings;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly Dictionary<Address, Known> _known = new();
    private readonly Dictionary<Address, Gone> _gone = new();
    // By incarnation: a poll of a killed node's old incarnation, waiting out its timeout, must not hold back the new one's.
    private readonly HashSet<UniqueAddress> _polling = new();

    public ITimerScheduler Timers { get; set; } = null!;

    public ClusterViewActor(string node, IReadOnlyList<string> roles, IReadOnlyList<string> interfaces, DateTimeOffset startedAt, string version,
        IActorRef view, GuardState guard, ClusterViewSettings settings)
    {
        _node = node;
        _roles = roles;
        _interfaces = interfaces;
        _startedAt = startedAt;
        _version = version;
        _view = view;
        _guard = guard;
        _settings = settings;

        Receive<GetNodeInfo>(_ => OwnInfo().PipeTo(Sender));
        Receive<Poll>(_ => PollMembers());
        Receive<Heard>(OnHeard);
        Receive<ClusterEvent.MemberRemoved>(e => Forget(e.Member));
        Receive<ClusterEvent.IMemberEvent>(e =>
        {
            _gone.Remove(e.Member.Address); // back at the same address
            AskInfo(e.Member.UniqueAddress); // a new member is named in queries at once, not a poll later
        });
        Receive<GetClusterDirectory>(_ => Sender.Tell(Directory()));
        Receive<GetClusterMembers>(_ => Sender.Tell(Members()));

        Receive<GetClusterConnections>(q =>
        {
            var (ask, missing) = Targets(q.Node);
            FanOut<ConnectionsResponse>(ask, missing, new GetConnections(q.Query with { Limit = q.Query.Offset + q.Query.Limit, Offset = 0 }))
                .ContinueWith(t => MergeConnections(q.Query, t.Result), TaskContinuationOptions.ExecuteSynchronously)
                .PipeTo(Sender);
        });
        Receive<GetClusterIcmp>(q =>
        {
            var (ask, missing) = Targets(q.Node);
            FanOut<IcmpResponse>(ask, missing, new GetIcmp(q.Query))
                .ContinueWith(t => MergeIcmp(q.Query, t.Result), TaskContinuationOptions.ExecuteSynchronously)
                .PipeTo(Sender);
        });
        Receive<GetClusterStats>(q =>
        {
            var (ask, missing) = Targets(q.Node);
            FanOut<StatsResponse>(ask, missing, GetStats.Instance)
                .ContinueWith(t => MergeStats(t.Result), TaskContinuationOptions.ExecuteSynchronously)
                .PipeTo(Sender);
        });
    }

    public static Props Props(string node, IReadOnlyList<string> roles, IReadOnlyList<string> interfaces, DateTimeOffset startedAt, string version,
        IActorRef view, GuardState guard, ClusterViewSettings? settings = null) =>
        Akka.Actor.Props.Create(() => new ClusterViewActor(node, roles, interfaces, startedAt, version, view, guard, settings ?? ClusterViewSettings.Default));

    /// <summary>The entry assembly's informational version (what the build stamped: version and commit), else its version.</summary>
    public static string SoftwareVersion()
    {
        var assembly = Assembly.GetEntryAssembly() ?? typeof(ClusterViewActor).Assembly;
        return assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "unknown";
    }

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
        Timers.StartPeriodicTimer(Poll.Instance, Poll.Instance, TimeSpan.Zero, _settings.PollInterval);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    // ---------------------------------------------------------------- this node

    /// <summary>This node's NodeInfo; if the local view does not answer in time, with no interfaces and not ready.</summary>
    private Task<NodeInfo> OwnInfo()
    {
        var (node, address, roles, interfaces, version, startedAt, guard) =
            (_node, _cluster.SelfAddress.ToString(), _roles, _interfaces, _version, _startedAt, _guard);
        return _view.Ask<NodeStatus>(GetNodeStatus.Instance, _settings.AskTimeout).ContinueWith(t =>
        {
            var status = t.IsCompletedSuccessfully ? t.Result : null;
            // GuardState is written by other actors and made for reading from anywhere.
            var ready = status is { Ready: true } && guard.AppliedEverywhere(interfaces);
            return new NodeInfo(node, address, roles, ready, status?.Interfaces ?? [], version, KernelRuleSetVersion(guard, interfaces), startedAt);
        }, TaskContinuationOptions.ExecuteSynchronously);
    }

    /// <summary>The rule-set version every one of these interfaces classifies by (the oldest); -1 if one has none or there are none.</summary>
    public static long KernelRuleSetVersion(GuardState guard, IReadOnlyList<string> interfaces)
    {
        if (interfaces.Count == 0)
            return -1;
        var applied = guard.Applied;
        return interfaces.All(applied.ContainsKey) ? interfaces.Min(i => applied[i]) : -1;
    }

    // ---------------------------------------------------------------- members

    private void PollMembers()
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var (address, gone) in _gone.ToList())
            if (now - gone.At > _settings.RemovedRetention)
                _gone.Remove(address);
        foreach (var m in _cluster.State.Members)
            if (m.Status != MemberStatus.Removed)
                AskInfo(m.UniqueAddress);
    }

    private void AskInfo(UniqueAddress member)
    {
        if (!_polling.Add(member))
            return; // still waiting for the last one: an unreachable member must not pile up asks
        var address = member.Address;
        var info = address == _cluster.SelfAddress
            ? OwnInfo()
            : Context.ActorSelection(new RootActorPath(address) / "user" / Name).Ask<NodeInfo>(GetNodeInfo.Instance, _settings.AskTimeout);
        info.ContinueWith(t => t.IsCompletedSuccessfully
                ? new Heard(address, DateTimeOffset.UtcNow, t.Result, Polled: member)
                : new Heard(address, DateTimeOffset.UtcNow, null, Failed: true, Polled: member), TaskContinuationOptions.ExecuteSynchronously)
            .PipeTo(Self);
    }

    private void OnHeard(Heard heard)
    {
        if (heard.Polled is not null)
            _polling.Remove(heard.Polled);
        if (heard.Failed || !IsMember(heard.Address))
            return;
        if (heard.Polled is not null && !_cluster.State.Members.Any(m => m.UniqueAddress.Equals(heard.Polled)))
            return; // asked of an incarnation no longer a member: what answered at that address may be the new one, asked itself
        if (!_known.TryGetValue(heard.Address, out var known))
            _known[heard.Address] = known = new Known();
        known.LastHeartbeat = heard.At;
        if (heard.Info is not null)
            known.Info = heard.Info;
    }

    private bool IsMember(Address address) => _cluster.State.Members.Any(m => m.Address == address && m.Status != MemberStatus.Removed);

    private void Forget(Member member)
    {
        if (_known.Remove(member.Address, out var last))
            _gone[member.Address] = new Gone(member, last, DateTimeOffset.UtcNow);
    }

    private string NameOf(Address address) => _known.GetValueOrDefault(address)?.Info?.Node ?? address.ToString();

    private ClusterDirectory Directory() =>
        new(_cluster.State.Members
            .Where(m => m.Status != MemberStatus.Removed)
            .Select(m => _known.GetValueOrDefault(m.Address)?.Info)
            .OfType<NodeInfo>()
            .ToList());

    private ClusterMembersResponse Members()
    {
        var state = _cluster.State;
        var members = state.Members
            .Where(m => m.Status != MemberStatus.Removed)
            .Select(m => Describe(m, StatusName(m.Status), !state.Unreachable.Contains(m), _known.GetValueOrDefault(m.Address)))
            .Concat(_gone.Values
                .Where(g => !state.Members.Any(m => m.Address == g.Member.Address))
                .Select(g => Describe(g.Member, "removed", false, g.Last)))
            .OrderBy(m => m.Node ?? "\uffff", StringComparer.Ordinal)
            .ThenBy(m => m.Address, StringComparer.Ordinal)
            .ToList();
        return new ClusterMembersResponse(members);
    }

    private ClusterMember Describe(Member m, string status, bool reachable, Known? known)
    {
        var info = known?.Info;
        return new ClusterMember(info?.Node, m.Address.ToString(), m.Roles.Order(StringComparer.Ordinal).ToList(), status, reachable,
            m.Address == _cluster.SelfAddress, info?.Ready, info?.Interfaces ?? [], info?.Version, info?.RuleSetVersion, info?.StartedAt,
            known?.LastHeartbeat);
    }

    private static string StatusName(MemberStatus status) => status switch
    {
        MemberStatus.WeaklyUp => "weakly_up",
        _ => status.ToString().ToLowerInvariant(),
    };

    // ---------------------------------------------------------------- queries

    /// <summary>
    /// Whom to ask: every Up sensor, or the one member named. Unreachable ones are missing at once (asking them would
    /// only wait out the timeout); a name no current member has is missing too (the REST layer has already said 404).
    /// </summary>
    private (List<(string Name, Address Address)> Ask, List<string> Missing) Targets(string? node)
    {
        var state = _cluster.State;
        var ask = new List<(string, Address)>();
        var missing = new List<string>();
        if (node is null)
        {
            foreach (var m in state.Members.Where(m => m.Status == MemberStatus.Up && m.HasRole(SensorRole)))
                if (state.Unreachable.Contains(m))
                    missing.Add(NameOf(m.Address));
                else
                    ask.Add((NameOf(m.Address), m.Address));
            return (ask, missing);
        }
        var named = state.Members.FirstOrDefault(m => NameOf(m.Address) == node
            && m.Status is not (MemberStatus.Removed or MemberStatus.Down or MemberStatus.Exiting));
        if (named is null || state.Unreachable.Contains(named))
            missing.Add(node);
        else
            ask.Add((node, named.Address));
        return (ask, missing);
    }

    /// <summary>Asks every target's view in parallel; each answer on time is also a heartbeat.</summary>
    private Task<NodeAnswer<T>[]> FanOut<T>(List<(string Name, Address Address)> ask, List<string> missing, object query) where T : class
    {
        var self = Self;
        var timeout = _settings.AskTimeout;
        var tasks = new List<Task<NodeAnswer<T>>>();
        foreach (var (name, address) in ask)
        {
            ICanTell view = address == _cluster.SelfAddress
                ? _view
                : Context.ActorSelection(new RootActorPath(address) / "user" / NodeViewActor.Name);
            tasks.Add(view.Ask<T>(query, timeout).ContinueWith(t =>
            {
                if (!t.IsCompletedSuccessfully)
                    return new NodeAnswer<T>(name, null);
                self.Tell(new Heard(address, DateTimeOffset.UtcNow, null));
                return new NodeAnswer<T>(name, t.Result);
            }, TaskContinuationOptions.ExecuteSynchronously));
        }
        tasks.AddRange(missing.Select(name => Task.FromResult(new NodeAnswer<T>(name, null))));
        return Task.WhenAll(tasks);
    }

    // ---------------------------------------------------------------- merging (pure)

    /// <summary>
    /// Each node sent its own top Offset + Limit by the query's sort, so the cluster's page is among them: totals add up,
    /// records are sorted again (ties by node, then key, so the order is stable), the first Offset skipped, cut to Limit.
    /// </summary>
    public static ClusterConnectionsResponse MergeConnections(ConnectionQuery query, IReadOnlyList<NodeAnswer<ConnectionsResponse>> answers)
    {
        var (answered, missing) = Split(answers);
        var top = answered.SelectMany(a => a.Response!.Connections)
            .OrderByDescending(SortKey(query.Sort))
            .ThenBy(r => r.Node, StringComparer.Ordinal)
            .ThenBy(r => r.Key, StringComparer.Ordinal)
            .Skip(query.Offset)
            .Take(query.Limit)
            .ToList();
        return new ClusterConnectionsResponse(answered.Sum(a => a.Response!.Total), top, Names(answered), missing);
    }

    /// <summary>As <see cref="MergeConnections"/>, newest first.</summary>
    public static ClusterIcmpResponse MergeIcmp(IcmpQuery query, IReadOnlyList<NodeAnswer<IcmpResponse>> answers)
    {
        var (answered, missing) = Split(answers);
        var top = answered.SelectMany(a => a.Response!.Messages)
            .OrderByDescending(r => r.LastSeen)
            .ThenBy(r => r.Node, StringComparer.Ordinal)
            .ThenBy(r => r.Key, StringComparer.Ordinal)
            .Take(query.Limit)
            .ToList();
        return new ClusterIcmpResponse(answered.Sum(a => a.Response!.Total), top, Names(answered), missing);
    }

    public static ClusterStatsResponse MergeStats(IReadOnlyList<NodeAnswer<StatsResponse>> answers)
    {
        var (answered, missing) = Split(answers);
        return new ClusterStatsResponse(answered.Select(a => a.Response!).OrderBy(s => s.Node, StringComparer.Ordinal).ToList(), missing);
    }

    /// <summary>The same keys NodeViewActor sorts by, so a merge keeps each node's order.</summary>
    public static Func<FlowRecord, double> SortKey(ConnectionSort sort) => sort switch
    {
        ConnectionSort.Packets => r => r.Packets,
        ConnectionSort.LastSeen => r => r.LastSeen.UtcTicks,
        ConnectionSort.Rate => r => r.BytesPerSecond,
        _ => r => r.Bytes,
    };

    private static (List<NodeAnswer<T>> Answered, List<string> Missing) Split<T>(IReadOnlyList<NodeAnswer<T>> answers) where T : class =>
        (answers.Where(a => a.Response is not null).ToList(),
            answers.Where(a => a.Response is null).Select(a => a.Node).Distinct().Order(StringComparer.Ordinal).ToList());

    private static List<string> Names<T>(List<NodeAnswer<T>> answered) where T : class =>
        answered.Select(a => a.Node).Order(StringComparer.Ordinal).ToList();
}
