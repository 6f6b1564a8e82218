// The node's Guarder: follows the store, compiles the newest rule set once per burst, publishes the kernel image.
using Akka.Actor;
using Akka.TestKit.Xunit2;
using PacketScope.Actors.Guard;
using PacketScope.Messages;
using PacketScope.Native.Shared;
using Xunit;
using static PacketScope.Testing.TestRules;

namespace PacketScope.Actors.Tests;

public sealed class GuardActorSpecs : TestKit
{
    [Fact]
    public void Should_ask_the_store_until_it_answers_then_publish_its_rules_as_a_kernel_image()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(FilterImageReady));
        var store = CreateTestProbe();
        var state = new GuardState();
        Sys.ActorOf(GuardActor.Props(store.Ref, state));

        store.ExpectMsg<GetFilters>(); // not answered: a recovering store
        store.ExpectMsg<GetFilters>(TimeSpan.FromSeconds(3));
        store.Reply(new FiltersResponse(4, [Rule(1, Spec(protocol: 1, icmpType: 8)), Rule(2, Spec(protocol: 6, dport: Port(23)) with { Enabled = false })]));

        var image = ExpectMsg<FilterImageReady>().Image;
        Assert.Equal(4, image.Version);
        Assert.Equal((1u, FilterVerdict.Drop), Assert.Single(image.Rules)); // the disabled rule stays out of the kernel
        Assert.Same(image, state.Current);
        store.ExpectNoMsg(TimeSpan.FromMilliseconds(1500)); // answered: no more asking
    }

    [Fact]
    public void Should_end_a_burst_of_changes_on_the_newest_version_and_ignore_older_ones()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(FilterImageReady));
        var store = CreateTestProbe();
        var guard = Sys.ActorOf(GuardActor.Props(store.Ref, new GuardState()));
        store.ExpectMsg<GetFilters>();
        store.Reply(new FiltersResponse(1, []));
        Assert.Equal(1, ExpectMsg<FilterImageReady>().Image.Version);

        // Changes that queue up behind a compile replace each other: versions only rise, the last is the newest.
        for (var v = 2; v <= 4; v++)
            guard.Tell(new FilterRuleSetChanged(v, Enumerable.Range(1, v).Select(i => Rule(i, Spec(protocol: 17, dport: Port(i)))).ToList()));
        var versions = new List<long>();
        FilterImageReady ready;
        do
        {
            ready = ExpectMsg<FilterImageReady>();
            versions.Add(ready.Image.Version);
        } while (ready.Image.Version < 4);
        Assert.Equal(versions.Order(), versions);
        Assert.Equal(4, ready.Image.Rules.Count);

        guard.Tell(new FilterRuleSetChanged(3, []));
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }
}
