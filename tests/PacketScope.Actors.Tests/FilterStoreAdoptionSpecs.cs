// The rule store as a cluster singleton that starts on a node whose journal is behind: it adopts the
// newest rule set a live member's GuardActor holds, ids go on from the cluster's, and the adoption is
// itself persisted. A one-node cluster on loopback with the in-memory journal.
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using PacketScope.Actors.Guard;
using PacketScope.Messages;
using Xunit;
using static PacketScope.Testing.TestRules;

namespace PacketScope.Actors.Tests;

public sealed class FilterStoreAdoptionSpecs : TestKit
{
    private static readonly Config ClusterConfig = ConfigurationFactory.ParseString("""
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """);

    private readonly IActorRef _guard;
    private readonly IActorRef _mediator;
    private readonly IActorRef _proxy;

    /// <summary>Where the guard reaches the store, as the singleton proxy does: the store a test points it at (an IActorRef message).</summary>
    private sealed class StoreProxy : ReceiveActor
    {
        private IActorRef? _store;

        public StoreProxy()
        {
            Receive<IActorRef>(store => _store = store);
            ReceiveAny(m => _store?.Forward(m));
        }
    }

    public FilterStoreAdoptionSpecs() : base(ClusterConfig)
    {
        var cluster = Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == MemberStatus.Up, TimeSpan.FromSeconds(10));
        _mediator = DistributedPubSub.Get(Sys).Mediator;
        // This node's GuardActor, where the store looks for it, following the store's topic and holding the cluster's set.
        _proxy = Sys.ActorOf(Props.Create(() => new StoreProxy()));
        _guard = Sys.ActorOf(GuardActor.Props(_proxy, new GuardState(), _mediator), GuardActor.Name);
        _guard.Tell(new FilterRuleSetChanged(7, [Rule(3, Spec(protocol: 6, dport: Port(23))), Rule(9, Spec(protocol: 17, dport: Port(53)))], NextId: 12));
        AwaitCondition(() => Held().Version == 7);
    }

    private FilterRuleSetChanged Held() => _guard.Ask<FilterRuleSetChanged>(GetHeldRuleSet.Instance, TimeSpan.FromSeconds(3)).Result;

    private static FiltersResponse List(IActorRef store) => store.Ask<FiltersResponse>(GetFilters.Instance, TimeSpan.FromSeconds(10)).Result;

    private async Task<IActorRef> Restart(IActorRef store, string id, bool adopt, IActorRef? mediator)
    {
        Watch(store);
        Sys.Stop(store);
        await ExpectTerminatedAsync(store);
        return Sys.ActorOf(FilterStoreActor.Props(id, mediator: mediator, adopt: adopt));
    }

    [Fact]
    public async Task Should_adopt_the_rule_set_the_members_hold_and_go_on_from_its_ids()
    {
        var changes = CreateTestProbe();
        _mediator.Tell(new Subscribe(FilterStoreActor.Topic, changes.Ref), changes.Ref);
        changes.ExpectMsg<SubscribeAck>();
        var id = $"filters-{Guid.NewGuid():N}";

        var store = Sys.ActorOf(FilterStoreActor.Props(id, mediator: _mediator, adopt: true)); // an empty journal
        _proxy.Tell(store);
        // A command sent during the adoption waits for it.
        var added = await store.Ask<FilterCommandResult>(new AddFilter(Spec(protocol: 6, dport: Port(445))), TimeSpan.FromSeconds(10));
        Assert.Equal(12, added.Rule!.Id); // not 1: the cluster gave out ids up to 11
        var list = List(store);
        Assert.Equal(9, list.Version); // adopted as 8 (above the cluster's 7), then the add
        Assert.Equal([3, 9, 12], list.Rules.Select(r => r.Id).Order());
        Assert.Equal(8, changes.ExpectMsg<FilterRuleSetAdvanced>(TimeSpan.FromSeconds(10)).Version); // the cluster's set, from this store now
        AwaitCondition(() => Held().Version == 9); // the guard follows

        // The adoption is in the journal, and the members hold what it holds: a restart recovers version 9 and adopts nothing.
        var restarted = await Restart(store, id, adopt: true, _mediator);
        var after = List(restarted);
        Assert.Equal(9, after.Version);
        Assert.Equal([3, 9, 12], after.Rules.Select(r => r.Id).Order());
        Assert.Equal(13, after.NextId);
    }

    [Fact]
    public async Task Should_prefer_the_rules_the_cluster_enforces_over_a_journal_with_a_higher_version()
    {
        // This node's journal: version 9, written while the cluster followed another store (the losing side of a
        // partition, or an old incarnation). Version numbers of two journals say nothing about which is newer.
        var id = $"filters-{Guid.NewGuid():N}";
        var store = Sys.ActorOf(FilterStoreActor.Props(id)); // publishes on the local event stream: the guard does not follow
        for (var port = 1; port <= 9; port++)
            Assert.True((await store.Ask<FilterCommandResult>(new AddFilter(Spec(protocol: 17, dport: Port(1000 + port))), TimeSpan.FromSeconds(10))).Ok);
        Assert.Equal(7, Held().Version);

        var restarted = await Restart(store, id, adopt: true, _mediator);
        var list = List(restarted);
        Assert.Equal(10, list.Version); // above both
        Assert.Equal([3, 9], list.Rules.Select(r => r.Id).Order());
        Assert.Equal(12, list.NextId); // above both: ids 10 and 11 were given by this journal, up to 11 by the cluster
    }

    [Fact]
    public async Task Should_adopt_nothing_when_the_members_hold_what_its_journal_holds()
    {
        var id = $"filters-{Guid.NewGuid():N}";
        var store = Sys.ActorOf(FilterStoreActor.Props(id, mediator: _mediator, adopt: true));
        _proxy.Tell(store);
        Assert.Equal(8, List(store).Version); // the cluster's set, adopted
        for (var port = 1; port <= 3; port++)
            Assert.True((await store.Ask<FilterCommandResult>(new AddFilter(Spec(protocol: 17, dport: Port(port))), TimeSpan.FromSeconds(10))).Ok);
        AwaitCondition(() => Held().Version == 11);

        var restarted = await Restart(store, id, adopt: true, _mediator);
        var list = List(restarted);
        Assert.Equal(11, list.Version);
        Assert.Equal(5, list.Rules.Count);
    }
}
