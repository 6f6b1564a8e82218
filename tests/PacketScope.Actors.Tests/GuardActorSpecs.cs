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

        Assert.Equal(-1, store.ExpectMsg<GetFiltersSince>().Version); // not answered: a recovering store
        store.ExpectMsg<GetFiltersSince>(TimeSpan.FromSeconds(3));
        store.Reply(new FiltersResponse(4, [Rule(1, Spec(protocol: 1, icmpType: 8)), Rule(2, Spec(protocol: 6, dport: Port(23)) with { Enabled = false })]));

        var image = ExpectMsg<FilterImageReady>().Image;
        Assert.Equal(4, image.Version);
        Assert.Equal((1u, FilterVerdict.Drop), Assert.Single(image.Rules)); // the disabled rule stays out of the kernel
        Assert.Same(image, state.Current);
        store.ExpectNoMsg(TimeSpan.FromMilliseconds(1500)); // answered: from now on a poll for what it may miss
        Assert.Equal(4, store.ExpectMsg<GetFiltersSince>(GuardActor.PollInterval + TimeSpan.FromSeconds(2)).Version);
        store.Reply(new FiltersUpToDate(4));
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Should_catch_up_on_a_change_it_missed_through_its_poll_and_tell_which_set_it_holds()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(FilterImageReady));
        var store = CreateTestProbe();
        var guard = Sys.ActorOf(GuardActor.Props(store.Ref, new GuardState()));
        Assert.Equal(-1, (await guard.Ask<FilterRuleSetChanged>(GetHeldRuleSet.Instance, TimeSpan.FromSeconds(3))).Version); // holds nothing yet
        store.ExpectMsg<GetFiltersSince>();
        store.Reply(new FiltersResponse(2, [Rule(1, Spec(protocol: 1))], NextId: 5));
        Assert.Equal(2, ExpectMsg<FilterImageReady>().Image.Version);

        // The change to version 3 never arrived (the node was unreachable): the next poll brings it.
        Assert.Equal(2, store.ExpectMsg<GetFiltersSince>(GuardActor.PollInterval + TimeSpan.FromSeconds(2)).Version);
        store.Reply(new FiltersResponse(3, [Rule(1, Spec(protocol: 1)), Rule(5, Spec(protocol: 17))], NextId: 6));
        Assert.Equal(3, ExpectMsg<FilterImageReady>().Image.Version);

        var held = await guard.Ask<FilterRuleSetChanged>(GetHeldRuleSet.Instance, TimeSpan.FromSeconds(3));
        Assert.Equal((3L, 6), (held.Version, held.NextId));
        Assert.Equal([1, 5], held.Rules.Select(r => r.Id));
    }

    [Fact]
    public void Should_end_a_burst_of_changes_on_the_newest_version_and_ignore_older_ones()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(FilterImageReady));
        var store = CreateTestProbe();
        var guard = Sys.ActorOf(GuardActor.Props(store.Ref, new GuardState()));
        store.ExpectMsg<GetFiltersSince>();
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

    [Fact]
    public void Should_pull_the_newest_set_once_per_round_trip_when_the_store_moves_on_many_times()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(FilterImageReady));
        var store = CreateTestProbe();
        var guard = Sys.ActorOf(GuardActor.Props(store.Ref, new GuardState()));
        store.ExpectMsg<GetFiltersSince>();
        store.Reply(new FiltersResponse(1, []));
        Assert.Equal(1, ExpectMsg<FilterImageReady>().Image.Version);

        // 2,000 versions announced while the first pull is unanswered: one pull, and it asks from what the node holds.
        for (var v = 2; v <= 2_001; v++)
            guard.Tell(new FilterRuleSetAdvanced(v));
        Assert.Equal(1, store.ExpectMsg<GetFiltersSince>().Version);
        store.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        var rules = Enumerable.Range(1, 1_000).Select(i => Rule(i, Spec(src: $"198.18.{i >> 8}.{i & 0xff}"))).ToList();
        guard.Tell(new FiltersResponse(1_000, rules), store.Ref);
        // The answer is older than the newest announced: the next pull goes at once; its answer is the newest.
        Assert.Equal(1_000, store.ExpectMsg<GetFiltersSince>().Version);
        guard.Tell(new FiltersResponse(2_001, rules.Take(999).ToList()), store.Ref);

        var images = new List<long>();
        FilterImageReady ready;
        do
        {
            ready = ExpectMsg<FilterImageReady>();
            images.Add(ready.Image.Version);
        } while (ready.Image.Version < 2_001);
        Assert.True(images.Count <= 2, $"2,000 versions compiled as {images.Count} images: {string.Join(", ", images)}");
        Assert.Equal(999, ready.Image.Rules.Count);
        // Up to date: nothing but the periodic poll, which asks from the newest.
        Assert.All(store.ReceiveWhile(TimeSpan.FromMilliseconds(300), m => m), m => Assert.Equal(2_001, Assert.IsType<GetFiltersSince>(m).Version));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }
}
