// The real node binary as a child process: started with options, probed over HTTP, stopped by signal.
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PacketScope.Testing;

namespace PacketScope.Kernel.Tests.Fixtures;

public sealed class NodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private string? _copy;

    private NodeProcess(Process process, int port, string host)
    {
        _process = process;
        Port = port;
        Http = new HttpClient { BaseAddress = new Uri($"http://{host}:{port}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public int Port { get; }
    public HttpClient Http { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>The node's entry assembly, built beside this test project in the same configuration.</summary>
    public static string NodeDll
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PacketScope.sln")))
                dir = dir.Parent;
            return Path.Combine(dir!.FullName, "src", "Node", "bin", configuration, "net10.0", "packetscope.dll");
        }
    }

    /// <summary>Starts the node with <paramref name="args"/> plus --api and --cluster-port on free loopback ports (unless given);
    /// the API on <paramref name="host"/> (another loopback address, for a test that needs a fixed port).</summary>
    public static NodeProcess Start(IEnumerable<string> args, int? port = null, string? runAs = null, string host = "127.0.0.1")
    {
        var p = port ?? Ports.Free();
        var all = args.ToList();
        if (!all.Contains("--api"))
            all.AddRange(["--api", $"{host}:{p}"]);
        if (!all.Contains("--cluster-port"))
            all.AddRange(["--cluster-port", Ports.Free().ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var psi = runAs is null ? new ProcessStartInfo("dotnet") : new ProcessStartInfo("setpriv");
        var dll = NodeDll;
        string? copy = null;
        if (runAs is not null)
        {
            foreach (var a in new[] { $"--reuid={runAs}", $"--regid={runAs}", "--clear-groups", "dotnet" })
                psi.ArgumentList.Add(a);
            // The checkout may sit under a directory only root can enter: run a world-readable copy.
            copy = Path.Combine(Path.GetTempPath(), $"ps-node-{Guid.NewGuid():N}");
            Shell.Run("cp", "-r", Path.GetDirectoryName(dll)!, copy);
            Shell.Run("chmod", "-R", "a+rX", copy);
            dll = Path.Combine(copy, Path.GetFileName(dll));
            psi.WorkingDirectory = copy;
        }
        psi.ArgumentList.Add(dll);
        foreach (var a in all)
            psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        var process = new Process { StartInfo = psi };
        var node = new NodeProcess(process, p, host) { _copy = copy };
        process.OutputDataReceived += (_, e) => node.Append(e.Data);
        process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }

    /// <summary>Waits until /api/health says every interface is attached.</summary>
    public void WaitReady(double timeoutSeconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"node exited with {_process.ExitCode} before it was ready:\n{Output}");
            try
            {
                if (Http.GetAsync("/api/health").Result.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (AggregateException)
            {
                // Not listening yet.
            }
            Thread.Sleep(100);
        }
        throw new TimeoutException($"node not ready after {timeoutSeconds} s:\n{Output}");
    }

    public JsonElement GetJson(string path)
    {
        var response = Http.GetAsync(path).Result;
        var body = response.Content.ReadAsStringAsync().Result;
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"GET {path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement;
    }

    public void Signal(string signal) => Shell.Run("kill", $"-{signal}", _process.Id.ToString());

    public bool WaitForExit(double seconds)
    {
        if (!_process.WaitForExit(TimeSpan.FromSeconds(seconds)))
            return false;
        // The timed overload does not wait for the redirected output to drain; this one does.
        _process.WaitForExit();
        return true;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Signal("TERM");
            if (!_process.WaitForExit(TimeSpan.FromSeconds(15)))
                _process.Kill(entireProcessTree: true);
        }
        _process.WaitForExit();
        Http.Dispose();
        _process.Dispose();
        if (_copy is not null)
            Directory.Delete(_copy, recursive: true);
    }
}
