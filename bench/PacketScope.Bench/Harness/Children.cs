// Child processes: the bench re-invoked with an internal subcommand (a clean process for memory
// figures), and the node binary. Started with the node's GC settings and killed on cleanup.
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using PacketScope.Testing;

namespace PacketScope.Bench.Harness;

internal sealed class Child : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly IDisposable _cleanup;
    private readonly List<string> _stdout = new();
    private readonly SemaphoreSlim _lines = new(0);

    private Child(Process process)
    {
        _process = process;
        _cleanup = Cleanup.Register($"stop process {process.Id}", () => Stop(TimeSpan.FromSeconds(15)));
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    public string Stderr
    {
        get
        {
            lock (_stderr)
                return _stderr.ToString();
        }
    }

    /// <summary>The bench itself with <paramref name="args"/>, under the node's GC settings unless <paramref name="gc"/> says otherwise.</summary>
    public static Child StartSelf(string gc, params string[] args)
    {
        var dll = typeof(Child).Assembly.Location;
        return Start(Paths.Dotnet, [dll, .. args], echoStderr: true, gc);
    }

    /// <summary>The node binary (built by `dotnet build -c Release PacketScope.sln`).</summary>
    public static Child StartNode(params string[] args)
    {
        if (!File.Exists(Paths.NodeDll))
            throw new FileNotFoundException($"the node is not built: {Paths.NodeDll} is missing; run `dotnet build -c Release PacketScope.sln` (or make bench)");
        return Start(Paths.Dotnet, [Paths.NodeDll, .. args], echoStderr: false, "node");
    }

    private static Child Start(string file, string[] args, bool echoStderr, string gc)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in Paths.NodeGcEnvironment())
            psi.Environment[key] = value;
        if (gc is "server" or "workstation")
            psi.Environment["DOTNET_gcServer"] = gc == "server" ? "1" : "0";
        else if (gc != "node")
            throw new ArgumentException($"--gc: '{gc}' is not node, server or workstation");
        var process = new Process { StartInfo = psi };
        process.Start();
        var child = new Child(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (child._stdout)
                child._stdout.Add(e.Data);
            child._lines.Release();
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (child._stderr)
                child._stderr.AppendLine(e.Data);
            if (echoStderr)
                Console.Error.WriteLine("  " + e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits for a stdout line starting with <paramref name="prefix"/> and returns the rest of it.</summary>
    public string WaitForLine(string prefix, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var next = 0;
        while (true)
        {
            lock (_stdout)
                for (; next < _stdout.Count; next++)
                    if (_stdout[next].StartsWith(prefix, StringComparison.Ordinal))
                        return _stdout[next][prefix.Length..];
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"process {Pid} did not print '{prefix}' within {timeout.TotalSeconds:F0} s; stderr:\n{Stderr}");
            if (_process.HasExited && !_lines.Wait(100))
                throw new InvalidOperationException($"process {Pid} exited with {_process.ExitCode} before printing '{prefix}'; stderr:\n{Stderr}");
            _lines.Wait(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    public T WaitForJson<T>(string prefix, TimeSpan timeout) => JsonSerializer.Deserialize<T>(WaitForLine(prefix, timeout))!;

    /// <summary>SIGTERM, then SIGKILL if the process has not ended within <paramref name="grace"/>.</summary>
    public void Stop(TimeSpan grace)
    {
        if (!_process.HasExited)
        {
            Shell.TryRun("kill", "-TERM", _process.Id.ToString());
            if (!_process.WaitForExit(grace))
                _process.Kill(entireProcessTree: true);
        }
        _process.WaitForExit();
    }

    /// <summary>SIGKILL, as a crash: the process ends at once, detaching nothing and telling the cluster nothing.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
            Shell.TryRun("kill", "-KILL", _process.Id.ToString());
        _process.WaitForExit();
    }

    public void Dispose()
    {
        _cleanup.Dispose();
        _process.Dispose();
    }
}

internal static class Paths
{
    public static string Configuration =>
        AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PacketScope.sln")))
                dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException($"no PacketScope.sln above {AppContext.BaseDirectory}");
        }
    }

    public static string NodeDll => Path.Combine(RepoRoot, "src", "Node", "bin", Configuration, "net10.0", "packetscope.dll");

    public static string BpfObject(string file) => Path.Combine(AppContext.BaseDirectory, "bpf", file);

    /// <summary>The dotnet host running us (children use the same runtime), else dotnet on the PATH.</summary>
    public static string Dotnet =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

    /// <summary>
    /// The node is an ASP.NET Core app and runs with its runtimeconfig's GC (server GC by default);
    /// memory figures of the bench's children are only comparable under the same settings.
    /// </summary>
    public static IEnumerable<(string Key, string Value)> NodeGcEnvironment()
    {
        var config = Path.ChangeExtension(NodeDll, ".runtimeconfig.json");
        if (!File.Exists(config))
            yield break;
        using var doc = JsonDocument.Parse(File.ReadAllText(config));
        if (!doc.RootElement.GetProperty("runtimeOptions").TryGetProperty("configProperties", out var props))
            yield break;
        if (props.TryGetProperty("System.GC.Server", out var server))
            yield return ("DOTNET_gcServer", server.GetBoolean() ? "1" : "0");
        if (props.TryGetProperty("System.GC.Concurrent", out var concurrent))
            yield return ("DOTNET_gcConcurrent", concurrent.GetBoolean() ? "1" : "0");
    }

    public static string GcMode => System.Runtime.GCSettings.IsServerGC ? "server GC" : "workstation GC";
}
