// libbpf finds tracepoint ids in tracefs: mount it where the kernel expects it when nobody has.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

public static class Tracefs
{
    public const string MountPoint = "/sys/kernel/tracing";
    private static readonly object s_lock = new();

    public static bool IsMounted => Directory.Exists(Path.Combine(MountPoint, "events"))
        || Directory.Exists("/sys/kernel/debug/tracing/events");

    /// <summary>Mounts tracefs on /sys/kernel/tracing unless it (or debugfs's copy) is already there.</summary>
    public static void EnsureMounted()
    {
        lock (s_lock)
        {
            if (IsMounted)
                return;
            if (Interop.Libc.mount("tracefs", MountPoint, "tracefs", 0, nint.Zero) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new BpfException(errno, $"mount tracefs on {MountPoint} (needed for tracepoints; or mount it yourself: mount -t tracefs tracefs {MountPoint})");
            }
        }
    }
}
