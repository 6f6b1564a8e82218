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

    public FilterStoreAdoptionSpecs() : base(ClusterConfig)
    {
        var cluster = Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == MemberStatus.Up, TimeSpan.FromSeconds(10));
        // This node's GuardActor, where the store looks for it, holding the cluster's newest set.
        _guard = Sys.ActorOf(GuardActor.Props(CreateTestProbe().Ref, new GuardState()), GuardActor.Name);
        _guard.Tell(new FilterRuleSetChanged(7, [Rule(3, Spec(protocol: 6, dport: Port(23))), Rule(9, Spec(protocol: 17, dport: Port(53)))], NextId: 12));
        AwaitCondition(() => _guard.Ask<FilterRuleSetChanged>(GetHeldRuleSet.Instance, TimeSpan.FromSeconds(3)).Result.Version == 7);
    }

    private static FiltersResponse List(IActorRef store) => store.Ask<FiltersResponse>(GetFilters.Instance, TimeSpan.FromSeconds(10)).Result;

    [Fact]
    public async Task Should_adopt_the_newest_rule_set_a_member_holds_and_go_on_from_its_ids()
    {
        var mediator = DistributedPubSub.Get(Sys).Mediator;
        var changes = CreateTestProbe();
        mediator.Tell(new Subscribe(FilterStoreActor.Topic, changes.Ref), changes.Ref);
        changes.ExpectMsg<SubscribeAck>();
        var id = $"filters-{Guid.NewGuid():N}";

        var store = Sys.ActorOf(FilterStoreActor.Props(id, mediator: mediator, adopt: true));
        // A command sent during the adoption waits for it.
        var added = await store.Ask<FilterCommandResult>(new AddFilter(Spec(protocol: 6, dport: Port(445))), TimeSpan.FromSeconds(10));
        Assert.Equal(12, added.Rule!.Id); // not 1: the cluster gave out ids up to 11
        var list = List(store);
        Assert.Equal(8, list.Version);
        Assert.Equal([3, 9, 12], list.Rules.Select(r => r.Id).Order());
        var published = changes.ExpectMsg<FilterRuleSetChanged>(TimeSpan.FromSeconds(10));
        Assert.Equal(7, published.Version); // after the adoption: the cluster's set, from this store now

        // The adoption is in the journal: a restart recovers version 8 and asks nobody for more.
        Watch(store);
        Sys.Stop(store);
        await ExpectTerminatedAsync(store);
        var restarted = Sys.ActorOf(FilterStoreActor.Props(id, mediator: mediator, adopt: true));
        var after = List(restarted);
        Assert.Equal(8, after.Version);
        Assert.Equal([3, 9, 12], after.Rules.Select(r => r.Id).Order());
        Assert.Equal(13, after.NextId);
    }

    [Fact]
    public async Task Should_keep_its_own_journal_when_it_is_ahead_of_every_member()
    {
        var id = $"filters-{Guid.NewGuid():N}";
        var store = Sys.ActorOf(FilterStoreActor.Props(id));
        for (var port = 1; port <= 9; port++)
            Assert.True((await store.Ask<FilterCommandResult>(new AddFilter(Spec(protocol: 17, dport: Port(port))), TimeSpan.FromSeconds(10))).Ok);
        Watch(store);
        Sys.Stop(store);
        ExpectTerminated(store);

        var restarted = Sys.ActorOf(FilterStoreActor.Props(id, adopt: true)); // version 9 here, 7 in the cluster
        var list = List(restarted);
        Assert.Equal(9, list.Version);
        Assert.Equal(Enumerable.Range(1, 9), list.Rules.Select(r => r.Id));
    }
}
