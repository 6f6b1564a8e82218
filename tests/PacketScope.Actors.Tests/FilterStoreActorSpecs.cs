// The rule store against a real SQLite journal: ids, priorities, duplicates, expiry, and recovery after a restart.
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Akka.TestKit.Xunit2;
using PacketScope.Actors.Guard;
using PacketScope.Messages;
using Xunit;

namespace PacketScope.Actors.Tests;

public sealed class FilterStoreActorSpecs : TestKit
{
    private readonly string _db;

    private static Config Journal(string db) => ConfigurationFactory.ParseString($$"""
        akka.persistence {
          journal.plugin = "akka.persistence.journal.sql"
          journal.sql { connection-string = "Data Source={{db}}", provider-name = "SQLite.MS", auto-initialize = true }
          snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
          snapshot-store.sql { connection-string = "Data Source={{db}}", provider-name = "SQLite.MS", auto-initialize = true }
        }
        """).WithFallback(SqlPersistence.DefaultConfiguration);

    public FilterStoreActorSpecs() : this(Path.Combine(Path.GetTempPath(), $"ps-filters-{Guid.NewGuid():N}.db")) { }

    private FilterStoreActorSpecs(string db) : base(Journal(db)) => _db = db;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing); // the actor system (and its journal connections) first
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(_db);
    }

    private static FilterRuleSpec Rule(int dstPort, FilterAction action = FilterAction.Drop, int? priority = null, DateTimeOffset? expires = null) =>
        new(FilterRuleType.Tcp, 6, null, null, null, new PortRange(dstPort, dstPort), 0, 0, null, null, null, null, null, null, null,
            action, true, $"port {dstPort}", priority, expires);

    private FilterCommandResult Ask(IActorRef store, object command) =>
        store.Ask<FilterCommandResult>(command, TimeSpan.FromSeconds(10)).Result;

    private FiltersResponse List(IActorRef store) => store.Ask<FiltersResponse>(GetFilters.Instance, TimeSpan.FromSeconds(10)).Result;

    [Fact]
    public void Should_keep_ids_priorities_and_changes_across_a_restart_and_never_reuse_an_id()
    {
        var id = $"filters-{Guid.NewGuid():N}";
        var store = Sys.ActorOf(FilterStoreActor.Props(id));
        Assert.Equal(1, Ask(store, new AddFilter(Rule(23))).Rule!.Id);
        Assert.Equal(2, Ask(store, new AddFilter(Rule(445))).Rule!.Id);
        var third = Ask(store, new AddFilter(Rule(22, FilterAction.Allow, priority: 5))).Rule!;
        Assert.Equal((3, 5), (third.Id, third.Priority));
        Assert.True(Ask(store, new RemoveFilter(3)).Ok); // the highest id: a restart must still not reuse it
        Assert.True(Ask(store, new SetFilterEnabled(1, false)).Ok);
        var before = List(store);

        Watch(store);
        Sys.Stop(store);
        ExpectTerminated(store);
        var restarted = Sys.ActorOf(FilterStoreActor.Props(id));
        var after = List(restarted);

        Assert.Equal(before.Version, after.Version);
        Assert.Equal([1, 2], after.Rules.Select(r => r.Id)); // priority 10, then 20
        Assert.False(after.Rules.Single(r => r.Id == 1).Spec.Enabled);
        var next = Ask(restarted, new AddFilter(Rule(3389, FilterAction.Drop, priority: 1))).Rule!;
        Assert.Equal(4, next.Id); // 3 stays retired
        Assert.Equal([4, 1, 2], List(restarted).Rules.Select(r => r.Id));
    }

    [Fact]
    public void Should_report_a_duplicate_and_a_conflict_and_change_nothing()
    {
        var store = Sys.ActorOf(FilterStoreActor.Props($"filters-{Guid.NewGuid():N}"));
        Ask(store, new AddFilter(Rule(23)));
        var version = List(store).Version;

        var duplicate = Ask(store, new AddFilter(Rule(23) with { Comment = "again" }));
        Assert.False(duplicate.Ok);
        Assert.Contains("duplicate of filter rule 1", duplicate.Error);
        var conflict = Ask(store, new AddFilter(Rule(23, FilterAction.Allow)));
        Assert.False(conflict.Ok);
        Assert.Equal("action", conflict.Field);
        Assert.Equal(version, List(store).Version);
    }

    [Fact]
    public void Should_answer_not_found_for_an_unknown_id()
    {
        var store = Sys.ActorOf(FilterStoreActor.Props($"filters-{Guid.NewGuid():N}"));
        Assert.True(Ask(store, new RemoveFilter(42)).NotFound);
        Assert.True(Ask(store, new UpdateFilter(42, Rule(1))).NotFound);
        Assert.True(Ask(store, new SetFilterEnabled(42, true)).NotFound);
    }

    [Fact]
    public void Should_let_an_expired_rule_leave_by_itself()
    {
        var now = DateTimeOffset.UtcNow;
        var ticks = now.UtcTicks; // the store's clock, moved by the test
        var store = Sys.ActorOf(FilterStoreActor.Props($"filters-{Guid.NewGuid():N}", () => new DateTimeOffset(Interlocked.Read(ref ticks), TimeSpan.Zero)));
        Ask(store, new AddFilter(Rule(23, expires: now.AddMinutes(5))));
        Ask(store, new AddFilter(Rule(24)));
        var before = List(store).Version;
        Sys.EventStream.Subscribe(TestActor, typeof(FilterRuleSetAdvanced));
        Interlocked.Exchange(ref ticks, now.AddMinutes(6).UtcTicks);
        AwaitAssert(() => Assert.Equal([2], List(store).Rules.Select(r => r.Id)), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(200));
        // The kernel follows: the expiry is published like any change.
        FishForMessage<FilterRuleSetAdvanced>(c => c.Version > before, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Should_publish_the_version_after_recovery_and_after_every_change()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(FilterRuleSetAdvanced));
        var store = Sys.ActorOf(FilterStoreActor.Props($"filters-{Guid.NewGuid():N}"));
        var recovered = ExpectMsg<FilterRuleSetAdvanced>(TimeSpan.FromSeconds(20)); // the first use creates the journal tables
        Assert.Equal(0, recovered.Version);

        var added = Ask(store, new AddFilter(Rule(23)));
        Assert.Equal(added.Version, ExpectMsg<FilterRuleSetAdvanced>().Version);
        Assert.True(added.Version > recovered.Version);

        Assert.Equal(Ask(store, new SetFilterEnabled(1, false)).Version, ExpectMsg<FilterRuleSetAdvanced>().Version);
        Assert.Equal(Ask(store, new RemoveFilter(1)).Version, ExpectMsg<FilterRuleSetAdvanced>().Version);
        Ask(store, new RemoveFilter(1)); // refused: nothing changed, nothing published
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Should_write_a_burst_of_concurrent_changes_in_batches_answering_each_exactly_once_it_is_durable()
    {
        var id = $"filters-{Guid.NewGuid():N}";
        Sys.EventStream.Subscribe(TestActor, typeof(FilterRuleSetAdvanced));
        // Sent while the store recovers (creating the journal's tables), so they queue up as a burst does.
        var store = Sys.ActorOf(FilterStoreActor.Props(id, maxEnabled: 1_500));
        var adds = Enumerable.Range(0, 2_000)
            .Select(i => store.Ask<FilterCommandResult>(new AddFilter(i % 10 == 9 ? Rule(1 + i / 10 * 10) with { Comment = "again" } : Rule(1 + i)),
                TimeSpan.FromSeconds(30)))
            .ToList();
        var results = await Task.WhenAll(adds);

        // Exactly as one by one: ids and versions in arrival order, every tenth a duplicate of the one nine before,
        // refused from where the limit falls.
        var held = new Dictionary<int, int>(); // port -> id
        for (var i = 0; i < results.Length; i++)
        {
            var port = i % 10 == 9 ? 1 + i / 10 * 10 : 1 + i;
            var r = results[i];
            if (held.TryGetValue(port, out var first))
                Assert.Equal((false, $"duplicate of filter rule {first}, which matches the same packets"), (r.Ok, r.Error));
            else if (held.Count == 1_500)
                Assert.Equal((false, "enabled"), (r.Ok, r.Field));
            else
            {
                held[port] = held.Count + 1;
                Assert.Equal((true, held.Count, held.Count * 10, (long)held.Count), (r.Ok, r.Rule!.Id, r.Rule.Priority, r.Version));
            }
        }
        var accepted = results.Where(r => r.Ok).ToList();

        // One publish per journal write, each a newer version, ending on the last.
        var published = ReceiveWhile(TimeSpan.FromMilliseconds(500), m => ((FilterRuleSetAdvanced)m).Version).ToList();
        Assert.Equal(published.Order(), published);
        Assert.Equal(1_500, published[^1]);
        Assert.True(published.Count < 100, $"{published.Count} publishes for 1,500 changes");

        // Every acknowledged rule is in the journal.
        Watch(store);
        Sys.Stop(store);
        ExpectTerminated(store);
        var restarted = List(Sys.ActorOf(FilterStoreActor.Props(id, maxEnabled: 1_500)));
        Assert.Equal(1_500, restarted.Version);
        Assert.Equal(accepted.Select(r => r.Rule), restarted.Rules);
    }

    [Fact]
    public void Should_let_a_read_or_a_refusal_see_a_change_only_once_it_is_durable()
    {
        var store = Sys.ActorOf(FilterStoreActor.Props($"filters-{Guid.NewGuid():N}"));
        List(store); // recovered
        store.Tell(new AddFilter(Rule(23)));
        store.Tell(GetFilters.Instance);
        store.Tell(new AddFilter(Rule(23) with { Comment = "again" }));
        store.Tell(new GetFiltersSince(0));
        // Answered in this order: what depends on the add waited for its write (answered at once, it would come first).
        var added = ExpectMsg<FilterCommandResult>();
        Assert.True(added.Ok);
        var duplicate = ExpectMsg<FilterCommandResult>();
        Assert.Equal((false, 1), (duplicate.Ok, duplicate.Rule!.Id));
        Assert.Equal(1, Assert.Single(ExpectMsg<FiltersResponse>().Rules).Id);
        Assert.Equal(added.Version, ExpectMsg<FiltersResponse>().Version);
    }

    [Fact]
    public void Should_refuse_more_enabled_rules_than_the_kernel_holds_and_accept_disabled_ones()
    {
        var store = Sys.ActorOf(FilterStoreActor.Props($"filters-{Guid.NewGuid():N}", maxEnabled: 2));
        Assert.True(Ask(store, new AddFilter(Rule(1))).Ok);
        Assert.True(Ask(store, new AddFilter(Rule(2))).Ok);

        var third = Ask(store, new AddFilter(Rule(3)));
        Assert.False(third.Ok);
        Assert.Equal("enabled", third.Field);
        Assert.Contains("2 rules are enabled", third.Error);

        Assert.True(Ask(store, new AddFilter(Rule(3) with { Enabled = false })).Ok); // stored, not in the kernel
        Assert.False(Ask(store, new SetFilterEnabled(3, true)).Ok);
        Assert.True(Ask(store, new SetFilterEnabled(1, false)).Ok);
        Assert.True(Ask(store, new SetFilterEnabled(3, true)).Ok); // room again
    }

    [Fact]
    public void Should_refuse_an_update_based_on_a_rule_that_changed_since_it_was_read()
    {
        var clock = DateTimeOffset.UnixEpoch;
        var store = Sys.ActorOf(FilterStoreActor.Props($"filters-{Guid.NewGuid():N}", () => clock = clock.AddSeconds(1)));
        var read = Ask(store, new AddFilter(Rule(23))).Rule!;
        Assert.True(Ask(store, new UpdateFilter(read.Id, read.Spec with { Comment = "first" }, read.UpdatedAt)).Ok);

        var second = Ask(store, new UpdateFilter(read.Id, read.Spec with { Comment = "second" }, read.UpdatedAt));
        Assert.False(second.Ok);
        Assert.True(second.Stale);
        Assert.Equal("first", Assert.Single(List(store).Rules).Spec.Comment);
    }
}
