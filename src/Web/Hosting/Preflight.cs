// Checks before anything is loaded: each failure is one line that says what to do.
using PacketScope.Native;

namespace PacketScope.Web.Hosting;

public static class Preflight
{
    /// <summary>Returns the first problem that stops the node from tracking, or null when it can start.</summary>
    public static string? Check(NodeOptions options, string objectPath)
    {
        if (!OperatingSystem.IsLinux())
            return "PacketScope needs Linux (eBPF and XDP)";
        if (!NetInterface.IsRoot)
            return "must run as root to load BPF programs: run it with sudo (or as root)";
        try
        {
            Libbpf.EnsureAvailable();
        }
        catch (LibbpfMissingException e)
        {
            return e.Message;
        }
        if (!NetInterface.KernelHasBtf)
            return "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian 12's is)";
        if (!File.Exists(objectPath))
            return $"BPF object {objectPath} is missing: build it with `make` (needs clang, llvm, bpftool, libbpf-dev)";
        foreach (var iface in options.Interfaces)
            if (NetInterface.IndexOf(iface) == 0)
                return $"interface '{iface}' does not exist: pick one from `ip -br link` and pass it with --iface";
        // Last, so that a node refused for another reason leaves no directory behind.
        try
        {
            Directory.CreateDirectory(options.DataDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return $"cannot create the state directory '{options.DataDirectory}': {e.Message}; pick another with --data DIR";
        }
        return null;
    }
}
