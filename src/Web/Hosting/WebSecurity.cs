// What every HTTP answer of a node gets before any endpoint runs: security headers, the Host check against DNS
// rebinding, and CORS for the origins the operator listed (answering their preflights before any token check).
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using PacketScope.Web.Api;

namespace PacketScope.Web.Hosting;

public static class WebSecurity
{
    /// <summary>The dashboard: its own scripts, styles and feed only; never framed (no clickjacking).</summary>
    public const string DashboardPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>JSON answers: nothing in them may load or run anything.</summary>
    public const string ApiPolicy = "default-src 'none'; frame-ancestors 'none'";

    /// <summary>Headers a cross-origin page may read (the seed's clients read the totals; ours the versions).</summary>
    private static readonly string[] s_exposed = ["X-Total-Count", "X-Nodes-Missing", "X-Rule-Set-Version", "X-Rule-Set-Applied"];

    public static IServiceCollection AddPacketScopeWebSecurity(this IServiceCollection services, NodeOptions options)
    {
        if (options.CorsOrigins.Count > 0)
            services.AddCors(cors => cors.AddDefaultPolicy(policy => policy
                .WithOrigins(options.CorsOrigins.ToArray())
                .WithMethods("GET", "POST", "PUT", "DELETE")
                .WithHeaders("Content-Type", "Authorization")
                .WithExposedHeaders(s_exposed)
                .SetPreflightMaxAge(TimeSpan.FromMinutes(10))));
        return services;
    }

    /// <summary>First in the pipeline: headers on every answer, then the Host check, then CORS (preflights end there, 204).</summary>
    public static WebApplication UsePacketScopeWebSecurity(this WebApplication app, NodeOptions options)
    {
        app.Use(async (http, next) =>
        {
            var api = http.Request.Path.StartsWithSegments("/api") || http.Request.Path.StartsWithSegments("/hubs");
            http.Response.OnStarting(() =>
            {
                var headers = http.Response.Headers;
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                headers.XFrameOptions = "DENY";
                headers.ContentSecurityPolicy = api ? ApiPolicy : DashboardPolicy;
                if (api)
                    headers.CacheControl = "no-store"; // flows, rules and tokens' answers are never kept by a cache
                return Task.CompletedTask;
            });
            var host = http.Request.Host.Host;
            if (!IsAllowedHost(host, options) && !HasToken(http))
            {
                // A page whose own name resolves to this node (DNS rebinding) sends that name: it gets nothing.
                var reason = $"this node answers to its address, loopback names and --allowed-host names, not '{host}'";
                http.Response.StatusCode = StatusCodes.Status400BadRequest;
                await http.Response.WriteAsJsonAsync(new ApiError($"invalid parameter 'Host': {reason}", "Host", reason), ConnectionsApi.Json);
                return;
            }
            await next(http);
        });
        if (options.CorsOrigins.Count > 0)
            app.UseCors();
        return app;
    }

    private static bool HasToken(HttpContext http) =>
        http.RequestServices.GetService<ApiToken>() is { } token && token.Accepts(http.Request.Headers.Authorization);

    /// <summary>
    /// The Host names a request may carry without the token: loopback addresses and "localhost", the listen address
    /// (any address literal when it listens on all), and the operator's --allowed-host names. The live hub uses it too.
    /// </summary>
    public static bool IsAllowedHost(string? host, NodeOptions options)
    {
        if (string.IsNullOrEmpty(host))
            return true; // an HTTP/1.0 request naming no host: no name a page could have made resolve here
        var name = host.Trim('[', ']').TrimEnd('.');
        if (name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
            return true; // RFC 6761: browsers resolve these to loopback themselves
        if (IPAddress.TryParse(name, out var ip) && !name.Contains('%'))
        {
            if (IPAddress.IsLoopback(ip) || ip.Equals(options.Api.Address))
                return true;
            // Listening on all addresses: any literal address is one a client dialled, never a name a page controls.
            return options.Api.Address.Equals(IPAddress.Any) || options.Api.Address.Equals(IPAddress.IPv6Any);
        }
        return options.AllowedHosts.Contains(name.ToLowerInvariant());
    }

    /// <summary>
    /// --cors-allow-changes: a change from a page of a listed origin, whose browser runs on this host (loopback peer),
    /// needs no token. Browsers set Origin themselves; a program on this host can forge it (see the README's trade-off).
    /// </summary>
    public static bool AllowsTokenlessChange(HttpContext http, NodeOptions options)
    {
        if (!options.CorsAllowChanges || http.Connection.RemoteIpAddress is not { } peer || !IPAddress.IsLoopback(peer))
            return false;
        var origin = http.Request.Headers.Origin.ToString();
        return origin.Length > 0 && options.CorsOrigins.Contains(origin.ToLowerInvariant());
    }
}
