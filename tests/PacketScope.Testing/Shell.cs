// Runs the system tools tests and benchmarks set up with (ip, ping, ethtool, apt-get); a failure names the command.
using System.Diagnostics;

namespace PacketScope.Testing;

public static class Shell
{
    public static string Run(string file, params string[] args) => RunWithin(TimeSpan.FromSeconds(60), file, args);

    public static string RunWithin(TimeSpan timeout, string file, params string[] args)
    {
        var (code, stdout, stderr) = TryRunWithin(timeout, file, args);
        if (code != 0)
            throw new InvalidOperationException($"`{file} {string.Join(' ', args)}` exited {code}: {stderr.Trim()} {stdout.Trim()}");
        return stdout;
    }

    public static (int Code, string Stdout, string Stderr) TryRun(string file, params string[] args) =>
        TryRunWithin(TimeSpan.FromSeconds(60), file, args);

    public static (int Code, string Stdout, string Stderr) TryRunWithin(TimeSpan timeout, string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"`{file} {string.Join(' ', args)}` did not finish within {timeout.TotalSeconds:0} s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Polls <paramref name="probe"/> until <paramref name="condition"/> holds; fails naming <paramref name="what"/> after the timeout.</summary>
    public static T WaitFor<T>(Func<T> probe, Func<T, bool> condition, string what, double timeoutSeconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        T last;
        do
        {
            last = probe();
            if (condition(last))
                return last;
            Thread.Sleep(50);
        } while (DateTime.UtcNow < deadline);
        throw new TimeoutException($"timed out after {timeoutSeconds} s waiting for {what}; last value: {last}");
    }

    public static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Append("/usr/sbin").Append("/sbin")
            .Any(dir => File.Exists(Path.Combine(dir, tool)));

    /// <summary>Installs a Debian package when its tool is missing (root only).</summary>
    public static void EnsureTool(string tool, string package)
    {
        if (OnPath(tool))
            return;
        Console.Error.WriteLine($"{tool} is missing, installing {package} with apt-get");
        RunWithin(TimeSpan.FromMinutes(5), "apt-get", "update", "-qq");
        RunWithin(TimeSpan.FromMinutes(5), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", package);
    }
}
