// Runs the system tools the benchmarks set up with (ip, ethtool, apt-get); a failure names the command.
using System.Diagnostics;

namespace PacketScope.Bench.Harness;

internal static class Shell
{
    public static string Run(string file, params string[] args)
    {
        var (code, stdout, stderr) = TryRun(file, args);
        if (code != 0)
            throw new InvalidOperationException($"`{file} {string.Join(' ', args)}` exited {code}: {stderr.Trim()} {stdout.Trim()}");
        return stdout;
    }

    public static (int Code, string Stdout, string Stderr) TryRun(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(300_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"`{file} {string.Join(' ', args)}` did not finish within 300 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Append("/usr/sbin").Append("/sbin")
            .Any(dir => File.Exists(Path.Combine(dir, tool)));

    /// <summary>Installs a Debian package when its tool is missing (the benchmarks run as root).</summary>
    public static void EnsureTool(string tool, string package)
    {
        if (OnPath(tool))
            return;
        Console.Error.WriteLine($"bench: {tool} is missing, installing {package} with apt-get");
        Run("apt-get", "update", "-qq");
        Run("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", package);
    }
}
