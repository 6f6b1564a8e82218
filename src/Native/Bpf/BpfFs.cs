// bpffs: where pinned links and maps live, so the datapath outlives a crashed node and the next one adopts it.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

public static class BpfFs
{
    public const string MountPoint = "/sys/fs/bpf";
    private static readonly object s_lock = new();

    /// <summary>True when bpffs is mounted on <see cref="MountPoint"/> (a fresh machine often has nothing there).</summary>
    public static bool IsMounted =>
        File.ReadLines("/proc/self/mounts").Select(l => l.Split(' ')).Any(f => f.Length > 2 && f[1] == MountPoint && f[2] == "bpf");

    /// <summary>Mounts bpffs on /sys/fs/bpf unless it is there already, as systemd and Cilium do.</summary>
    public static void EnsureMounted()
    {
        lock (s_lock)
        {
            if (IsMounted)
                return;
            Directory.CreateDirectory(MountPoint);
            if (Interop.Libc.mount("bpf", MountPoint, "bpf", 0, nint.Zero) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new BpfException(errno, $"mount bpffs on {MountPoint} (needed to pin the datapath; or mount it yourself: mount -t bpf bpf {MountPoint})");
            }
        }
    }

    /// <summary>Pins a link, map or program fd at path (the directory must exist, on bpffs).</summary>
    public static void Pin(int fd, string path) =>
        BpfException.ThrowIfNegative(Interop.Libbpf.bpf_obj_pin(fd, path), $"pin {path}");

    /// <summary>Opens what is pinned at path; null when nothing is.</summary>
    internal static SafeFileDescriptorHandle? Open(string path)
    {
        if (!File.Exists(path))
            return null;
        var fd = Interop.Libbpf.bpf_obj_get(path);
        if (fd == -BpfException.ENOENT)
            return null;
        return new SafeFileDescriptorHandle(BpfException.ThrowIfNegative(fd, $"open pinned {path}"));
    }

    /// <summary>Removes a pin directory and everything in it: links whose last reference that was detach.</summary>
    public static void Remove(string dir)
    {
        if (Directory.Exists(dir))
            Directory.Delete(dir, recursive: true);
    }

    /// <summary>What a link fd is: its type and, for XDP and tcx links, its interface (0 once the device is gone).</summary>
    internal static unsafe (uint Type, int IfIndex) LinkInfo(int fd, string operation)
    {
        // struct bpf_link_info: type, id, prog_id, then a union aligned to 8 whose xdp and tcx members start with ifindex.
        var info = stackalloc byte[64];
        new Span<byte>(info, 64).Clear();
        uint len = 64;
        BpfException.ThrowIfNegative(Interop.Libbpf.bpf_obj_get_info_by_fd(fd, info, &len), operation);
        return (*(uint*)info, *(int*)(info + 16));
    }

    internal const uint LinkTypeXdp = 6;
    internal const uint LinkTypeTcx = 11;
}
