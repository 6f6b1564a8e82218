// /api/filters: the rule store over REST (the seed's Filter Management API). Changes need the bearer token.
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PacketScope.Actors.Guard;
using PacketScope.Messages;
using PacketScope.Native;
using PacketScope.Web.Api.Filters;
using PacketScope.Web.Hosting;

namespace PacketScope.Web.Api;

public static class FiltersApi
{
    private static readonly TimeSpan s_askTimeout = TimeSpan.FromSeconds(10);

    public static IEndpointRouteBuilder MapFiltersApi(this IEndpointRouteBuilder app)
    {
        var filters = app.MapGroup("/api/filters");
        filters.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var token = http.RequestServices.GetService(typeof(ApiToken)) as ApiToken;
            var changes = !HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method);
            // Unknown peer counts as remote. Behind a reverse proxy every client looks local: set a token and
            // let the proxy demand it, or bind the API where only the proxy reaches it.
            var remote = http.Connection.RemoteIpAddress is not { } ip || !IPAddress.IsLoopback(ip);
            // Changes always need the token (or, with --cors-allow-changes, a listed origin's page on loopback); reads only
            // from beyond loopback.
            var options = http.RequestServices.GetService(typeof(NodeOptions)) as NodeOptions;
            var tokenless = options is not null && WebSecurity.AllowsTokenlessChange(http, options);
            if ((changes || remote) && !tokenless && (token is null || !token.Accepts(http.Request.Headers.Authorization)))
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return Results.Json(new ApiError("a bearer token is required: Authorization: Bearer <token> (see DATA/api-token)",
                    "Authorization", "missing or wrong token"), ConnectionsApi.Json, statusCode: 401);
            }
            try
            {
                return await next(context);
            }
            catch (BadRequestException e)
            {
                return e.ToResult();
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                return Results.Json(new ApiError("the rule store did not answer in time; retry"), ConnectionsApi.Json, statusCode: 503);
            }
        });

        filters.MapGet("", async (HttpContext http, IRequiredActor<FilterStoreActor> store, GuardState guard) =>
        {
            var rules = await Rules(store, guard, http);
            VersionHeaders(http, rules.Version, guard);
            return Results.Json(WithHits(rules.Rules, guard), ConnectionsApi.Json);
        });
        filters.MapGet("/presets", () => Results.Json(FilterPresets.All, ConnectionsApi.Json));
        filters.MapGet("/{id}", async (string id, HttpContext http, IRequiredActor<FilterStoreActor> store, GuardState guard) =>
        {
            var n = Id(id);
            var rules = await Rules(store, guard, http);
            VersionHeaders(http, rules.Version, guard);
            return rules.Rules.FirstOrDefault(r => r.Id == n) is { } rule
                ? Results.Json(WithHits(rule, guard.Hits([rule.Id]), MonotonicClock.RealtimeOffsetNs()), ConnectionsApi.Json)
                : NotFound(n);
        });
        filters.MapPost("", async (HttpRequest req, IRequiredActor<FilterStoreActor> store) =>
            Reply(req.HttpContext, await FilterCommands.Add(await store.GetAsync(), await Body(req))));
        filters.MapPut("/{id}", async (string id, HttpRequest req, IRequiredActor<FilterStoreActor> store) =>
        {
            var n = Id(id);
            return Reply(req.HttpContext, await FilterCommands.Update(await store.GetAsync(), n, await Body(req)));
        });
        filters.MapDelete("/{id}", async (string id, HttpContext http, IRequiredActor<FilterStoreActor> store) =>
            Reply(http, await FilterCommands.Remove(await store.GetAsync(), Id(id))));
        filters.MapPost("/{id}/enable", async (string id, HttpContext http, IRequiredActor<FilterStoreActor> store) =>
            Reply(http, await FilterCommands.SetEnabled(await store.GetAsync(), Id(id), true)));
        filters.MapPost("/{id}/disable", async (string id, HttpContext http, IRequiredActor<FilterStoreActor> store) =>
            Reply(http, await FilterCommands.SetEnabled(await store.GetAsync(), Id(id), false)));
        return app;
    }

    private static int Id(string text) =>
        AddressParser.TryWholeNumber(text, out var n) && n > 0
            ? n
            : throw new BadRequestException("id", $"'{text}' is not a filter rule id (a whole number from 1)");

    private static async Task<JsonElement> Body(HttpRequest req)
    {
        try
        {
            return (await JsonDocument.ParseAsync(req.Body)).RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new BadRequestException("body", $"is not valid JSON: {e.Message}");
        }
    }

    // A change's answer carries the rule-set version it made (X-Rule-Set-Version): wait for X-Rule-Set-Applied
    // (or /api/health's filters.applied) to reach it on a node to know the change is in that node's kernel.
    private static IResult Reply(HttpContext http, FilterReply reply)
    {
        if (reply.Version is { } version)
            http.Response.Headers["X-Rule-Set-Version"] = version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Json(reply.Body, ConnectionsApi.Json, statusCode: reply.Status);
    }

    /// <summary>The rules as stored, each with its kernel hit counters (GET /api/filters, the live feed's Rules).</summary>
    internal static JsonArray WithHits(IReadOnlyList<FilterRule> rules, GuardState guard)
    {
        var hits = guard.Hits(rules.Select(r => r.Id).ToList());
        var offset = MonotonicClock.RealtimeOffsetNs();
        return new JsonArray(rules.Select(r => (JsonNode)WithHits(r, hits, offset)).ToArray());
    }

    /// <summary>The rule as stored, with its kernel hit counters summed over this node's interfaces.</summary>
    private static JsonObject WithHits(FilterRule rule, Dictionary<int, FilterHits> hits, long realtimeOffsetNs)
    {
        var o = FilterRuleJson.Write(rule);
        var h = hits.GetValueOrDefault(rule.Id);
        o["hits"] = new JsonObject
        {
            ["packets"] = h.Packets,
            ["bytes"] = h.Bytes,
            ["last_hit"] = h.LastHitNs == 0 ? null : MonotonicClock.ToWallClock(h.LastHitNs, realtimeOffsetNs),
        };
        return o;
    }

    // X-Rule-Set-Version: the store's version; X-Rule-Set-Applied: the oldest version any interface classifies by.
    // The store's rules. A node that has not heard from the store since it started (its seed down) asks briefly, then
    // serves the last known rules from its disk, marked stale.
    private static async Task<FiltersResponse> Rules(IRequiredActor<FilterStoreActor> store, GuardState guard, HttpContext http)
    {
        if (guard.LastKnown is not { } known)
            return await (await store.GetAsync()).Ask<FiltersResponse>(GetFilters.Instance, s_askTimeout);
        try
        {
            return await (await store.GetAsync()).Ask<FiltersResponse>(GetFilters.Instance, TimeSpan.FromSeconds(1));
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            http.Response.Headers["X-Rule-Set-Stale"] = "true";
            return new FiltersResponse(known.Version, known.Rules.OrderBy(r => r.Priority).ThenBy(r => r.Id).ToList(), known.NextId);
        }
    }

    private static void VersionHeaders(HttpContext http, long version, GuardState guard)
    {
        http.Response.Headers["X-Rule-Set-Version"] = version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var applied = guard.Applied.Values.ToList();
        if (applied.Count > 0)
            http.Response.Headers["X-Rule-Set-Applied"] = applied.Min().ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static IResult NotFound(int id) =>
        Results.Json(new ApiError($"no filter rule with id {id}", "id", "not found"), ConnectionsApi.Json, statusCode: 404);
}
