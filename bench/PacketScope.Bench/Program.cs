// PacketScope benchmarks: packet-rate, filters, flow-read, idle-rss, cluster, dashboard, all (default). See bench/README.md.
using PacketScope.Bench;
using PacketScope.Bench.Harness;
using PacketScope.Testing;

var command = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "all";
var options = new Options(args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[1..] : args);

if (command is "help" or "--help" or "-h")
{
    Console.WriteLine("""
        Usage: make bench ARGS="[packet-rate|filters|flow-read|idle-rss|all] [--name value ...]"   (as root)

          packet-rate  --frames 10000000 --flows 1024 --rounds 3 --target 0.8
          filters      --part all|rate|apply|burst|drop
                       rate:  --frames 5000000 --flows 1024 --rounds 5 --counts 100,1000,10000 --mixed 10000
                              --prog-runs 1000000 --target 0.9
                       apply: --apply-rules 10000 --reps 20 --cold-runs 3
                       burst: --burst-rules 10000 --burst-deletes 2000 --burst-clients 8 --baseline-rules 1000
                              --settle-seconds 20 --lag-target-ms 1000 --rss-target-mb 400
                       drop:  --frames 5000000 --rounds 5 --receivers xdp,guard,nft --prog-runs 1000000 --drop-target 0.7
                              (nftables is installed with apt if missing)
          flow-read    --flows 1000000 --chunk 4096 --poll-ms 10 --runs 3 --gc node|server|workstation
          idle-rss     --idle-seconds 5 --gc node|server|workstation (of the noop baseline)
          cluster      --part all|propagation|query|rejoin
                       propagation: --nodes 3,5 --changes 60 --target-ms 500
                       query: --query-nodes 3 --query-flows 100000 --query-rounds 30
                       rejoin: --rejoin-nodes 3,5 --rejoin-rounds 10 --rejoin-target-s 5
          dashboard    --samples 15 --flows 50000 --frame-seconds 10   (Chromium at /usr/bin/chromium)
        """);
    return 0;
}

// Internal subcommands: the bench re-invokes itself for clean-process measurements.
switch (command)
{
    case "noop":
        return IdleRssBench.Noop();
    case "flow-read-child":
        return FlowReadBench.RunChild(options);
}

if (!PacketScope.Native.NetInterface.IsRoot)
{
    Console.Error.WriteLine("bench: the benchmarks load BPF programs and create veths: run them as root");
    return 1;
}

Cleanup.InstallHandlers();
try
{
    Console.WriteLine($"# PacketScope benchmarks ({DateTime.Now:yyyy-MM-dd HH:mm}, {Environment.ProcessorCount} CPUs, kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, .NET {Environment.Version})");
    var (gitCode, commit, _) = Shell.TryRun("git", "-C", Paths.RepoRoot, "describe", "--always", "--dirty");
    Console.WriteLine($"Source: commit {(gitCode == 0 ? commit.Trim() : "unknown")}. Load average at start: {Fmt.LoadAverage()}.");
    switch (command)
    {
        case "packet-rate":
            PacketRateBench.Run(options);
            break;
        case "filters":
            FilterRateBench.Run(options);
            break;
        case "flow-read":
            FlowReadBench.Run(options);
            break;
        case "idle-rss":
            IdleRssBench.Run(options);
            break;
        case "cluster":
            ClusterBench.Run(options);
            break;
        case "dashboard":
            DashboardBench.Run(options);
            break;
        case "all":
            PacketRateBench.Run(options);
            FilterRateBench.Run(options);
            FlowReadBench.Run(options);
            IdleRssBench.Run(options);
            ClusterBench.Run(options);
            DashboardBench.Run(options);
            break;
        default:
            Console.Error.WriteLine($"bench: unknown subcommand '{command}'; try help");
            return 2;
    }
    Console.WriteLine();
    Console.WriteLine($"Load average at the end: {Fmt.LoadAverage()}.");
    return 0;
}
catch (Exception e) when (!Cleanup.Stopping)
{
    Console.Error.WriteLine($"bench: {e}");
    return 1;
}
catch (Exception) when (Cleanup.Stopping)
{
    return 1; // interrupted by a signal: the handler cleans up and exits
}
finally
{
    Cleanup.RunAll();
}
