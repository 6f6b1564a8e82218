// Until every interface is attached with its rules in the kernel, the data endpoints answer 503 with the node's state
// (as /api/health does): an answer then always means the numbers are complete, from the first packet on.
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using PacketScope.Actors.Views;
using PacketScope.Messages;
using PacketScope.Web.Hosting;

namespace PacketScope.Web.Api;

public static class ReadinessGate
{
    private static readonly string[] s_gated = ["/api/connections", "/api/icmp", "/api/stats"];

    public static IApplicationBuilder UseReadinessGate(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        if (http.RequestServices.GetRequiredService<NodeReadiness>().IsReady || !s_gated.Any(p => http.Request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase)))
        {
            await next(http);
            return;
        }
        NodeStatus? status = null;
        try
        {
            var view = await http.RequestServices.GetRequiredService<IRequiredActor<NodeViewActor>>().GetAsync();
            status = await view.Ask<NodeStatus>(GetNodeStatus.Instance, TimeSpan.FromSeconds(2));
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or InvalidOperationException)
        {
            // still starting: the state is not known yet either
        }
        http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        http.Response.Headers.RetryAfter = "1";
        var body = new Dictionary<string, object?>
        {
            ["error"] = "the node is starting: its interfaces are not all attached with their rules yet; retry (GET /api/health says when it is ready)",
            ["ready"] = false,
            ["node"] = status?.Node,
            ["interfaces"] = status?.Interfaces,
        };
        await http.Response.WriteAsJsonAsync(body, ConnectionsApi.Json);
    });
}
