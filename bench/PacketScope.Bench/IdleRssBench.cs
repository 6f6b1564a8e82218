// idle-rss: resident memory of the real node (default --max-flows) attached to a fresh veth and idle,
// against the floor of the runtime: a do-nothing console process (this bench's noop) under the same GC.
using System.Diagnostics;
using PacketScope.Bench.Harness;
using PacketScope.Testing;

namespace PacketScope.Bench;

internal static class IdleRssBench
{
    private const string ReadyPrefix = "NOOP READY";

    public static void Run(Options options)
    {
        var idle = TimeSpan.FromSeconds(options.Double("idle-seconds", 5));
        var gc = options.String("gc", "node");

        MemoryReading noop;
        using (var child = Child.StartSelf(gc, "noop"))
        {
            child.WaitForLine(ReadyPrefix, TimeSpan.FromSeconds(30));
            Thread.Sleep(idle);
            noop = MemoryReading.Of(child.Pid);
        }

        using var veth = Veth.Create();
        var port = Ports.Free();
        MemoryReading node;
        long mapMemory;
        TimeSpan ready;
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        // Its own cluster port: the default (4053) may be taken on a machine that runs a node.
        using (var child = Child.StartNode("--iface", veth.Receiver, "--api", $"127.0.0.1:{port}", "--interval", "1",
                   "--cluster-port", Ports.Free().ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            var started = Stopwatch.GetTimestamp();
            NodeHttp.WaitHealthy(child, http, TimeSpan.FromSeconds(60));
            ready = Stopwatch.GetElapsedTime(started);
            Console.Error.WriteLine($"idle-rss: node {child.Pid} healthy on {veth.Receiver} after {Fmt.Ms(ready)}, idling {idle.TotalSeconds:F0} s");
            Thread.Sleep(idle);
            node = MemoryReading.Of(child.Pid);
            mapMemory = Proc.BpfMapMemlock(child.Pid);
            child.Stop(TimeSpan.FromSeconds(15));
        }

        var target = options.Double("rss-target-mb", 300);
        Console.WriteLine();
        Console.WriteLine($"## idle-rss: the node attached to a fresh veth (default --max-flows), {idle.TotalSeconds:F0} s idle after /api/health = 200");
        Console.WriteLine();
        Console.Write(new Table("process", "VmRSS", "anon", "file-backed", "shmem", "vs noop")
            .Row($"dotnet noop (bench, sleeps; {gc} GC settings)", Fmt.Mb(noop.RssMb), Fmt.Mb(noop.AnonMb), Fmt.Mb(noop.FileMb), Fmt.Mb(noop.ShmemMb), "1.00")
            .Row("packetscope node, idle", Fmt.Mb(node.RssMb), Fmt.Mb(node.AnonMb), Fmt.Mb(node.FileMb), Fmt.Mb(node.ShmemMb), Fmt.F(node.RssMb / noop.RssMb, 2)));
        Console.WriteLine();
        Console.WriteLine($"Kernel memory of the node's BPF maps (fdinfo memlock, not in RSS): {Fmt.Mb(mapMemory / 1048576.0)}. Node healthy {Fmt.Ms(ready)} after start.");
        Console.WriteLine($"Verdict: the idle node holds {Fmt.Mb(node.RssMb)}, {Fmt.Mb(node.RssMb - noop.RssMb)} above the .NET floor " +
            $"(< {Fmt.F(target, 0)} MB: {(node.RssMb < target ? "MET" : "MISSED")}).");
    }

    /// <summary>A do-nothing process: the runtime's own footprint.</summary>
    public static int Noop()
    {
        Console.WriteLine(ReadyPrefix);
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }
}
