// What the benchmarks that run the node binary share: waiting for /api/health, percentiles (free ports: PacketScope.Testing.Ports).
using System.Net;

namespace PacketScope.Bench.Harness;

internal static class NodeHttp
{
    /// <summary>Waits until the node answers /api/health with 200; throws with its stderr if it exits or takes longer.</summary>
    public static void WaitHealthy(Child node, HttpClient http, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (node.HasExited)
                throw new InvalidOperationException($"node {node.Pid} exited before it was healthy:\n{node.Stderr}");
            try
            {
                if (http.GetAsync("/api/health").Result.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (AggregateException)
            {
                // Not listening yet.
            }
            Thread.Sleep(100);
        }
        throw new TimeoutException($"node {node.Pid} not healthy within {timeout.TotalSeconds:F0} s:\n{node.Stderr}");
    }

    /// <summary>The nearest-rank percentile.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }
}
