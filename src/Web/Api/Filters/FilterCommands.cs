// Rule changes as REST and the live hub both make them: the same parsing, validation, stale-merge retry and
// answers, so a change through the dashboard is exactly a change through /api/filters.
using System.Text.Json;
using Akka.Actor;
using PacketScope.Messages;

namespace PacketScope.Web.Api.Filters;

/// <summary>A change's answer: the HTTP status, the body (the rule as stored, or an <see cref="ApiError"/>), and the
/// rule-set version the change made (null when nothing changed).</summary>
public sealed record FilterReply(int Status, object Body, long? Version)
{
    public bool Ok => Status is >= 200 and < 300;
}

public static class FilterCommands
{
    private static readonly TimeSpan s_askTimeout = TimeSpan.FromSeconds(10);

    public static async Task<FilterReply> Add(IActorRef store, JsonElement body)
    {
        FilterRuleSpec spec;
        try
        {
            spec = FilterRuleParser.Parse(body, DateTimeOffset.UtcNow);
        }
        catch (BadRequestException e)
        {
            return Invalid(e);
        }
        return Answer(await store.Ask<FilterCommandResult>(new AddFilter(spec), s_askTimeout), created: true);
    }

    /// <summary>Merges the given fields onto the rule as read; the store refuses the merge if the rule changed in between,
    /// and it is done again on the fresh rule (a lost update is never possible).</summary>
    public static async Task<FilterReply> Update(IActorRef store, int id, JsonElement changes)
    {
        if (changes.ValueKind != JsonValueKind.Object)
            return Invalid(new BadRequestException("body", "must be a JSON object with the fields to change"));
        try
        {
            FilterRuleParser.CheckText(changes); // before anything reads a string of it
        }
        catch (BadRequestException e)
        {
            return Invalid(e);
        }
        // An id in the body (a GET's output sent back) must be this rule's: a number equal to the path's.
        if (changes.TryGetProperty("id", out var bodyId)
            && (bodyId.ValueKind != JsonValueKind.Number || !bodyId.TryGetInt32(out var b) || b != id))
            return Invalid(new BadRequestException("id", bodyId.ValueKind == JsonValueKind.Number
                ? $"the body's id {bodyId.GetRawText()} is not the id in the path ({id}); leave it out or send {id}"
                : $"must be the rule's id as a number ({id}), or left out; got {bodyId.ValueKind.ToString().ToLowerInvariant()}"));
        for (var attempt = 1; ; attempt++)
        {
            var rules = await store.Ask<FiltersResponse>(GetFilters.Instance, s_askTimeout);
            if (rules.Rules.FirstOrDefault(r => r.Id == id) is not { } existing)
                return NotFound(id);
            FilterRuleSpec spec;
            try
            {
                spec = FilterRuleParser.Parse(FilterRuleJson.Merge(existing, changes), DateTimeOffset.UtcNow);
            }
            catch (BadRequestException e)
            {
                return Invalid(e);
            }
            var result = await store.Ask<FilterCommandResult>(new UpdateFilter(id, spec, existing.UpdatedAt), s_askTimeout);
            if (!result.Stale || attempt == 3)
                return Answer(result);
        }
    }

    public static async Task<FilterReply> Remove(IActorRef store, int id) =>
        Answer(await store.Ask<FilterCommandResult>(new RemoveFilter(id), s_askTimeout));

    public static async Task<FilterReply> SetEnabled(IActorRef store, int id, bool enabled) =>
        Answer(await store.Ask<FilterCommandResult>(new SetFilterEnabled(id, enabled), s_askTimeout));

    public static FilterReply Invalid(BadRequestException e) =>
        new(400, new ApiError($"invalid parameter '{e.Field}': {e.Reason}", e.Field, e.Reason), null);

    public static FilterReply NotFound(int id) => new(404, new ApiError($"no filter rule with id {id}", "id", "not found"), null);

    private static FilterReply Answer(FilterCommandResult result, bool created = false) =>
        result.Ok ? new(created ? 201 : 200, FilterRuleJson.Write(result.Rule!), result.Version)
        : result.NotFound ? new(404, new ApiError(result.Error!, result.Field, result.Error), null)
        // A duplicate or a conflict: 409, naming the rule it clashes with.
        : new(409, new ApiError(result.Error!, result.Field, result.Error), null);
}
