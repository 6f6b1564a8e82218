// The one exception type for libbpf and kernel failures: the errno, the operation, and what to do.
namespace PacketScope.Native;

public sealed class BpfException : Exception
{
    public BpfException(int errno, string operation)
        : base(Describe(errno, operation))
    {
        Errno = errno;
        Operation = operation;
    }

    /// <summary>Positive errno value (EPERM = 1, ENOENT = 2, ...).</summary>
    public int Errno { get; }

    /// <summary>What we were doing, e.g. "attach XDP to eth0".</summary>
    public string Operation { get; }

    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int E2BIG = 7;
    public const int ENOMEM = 12;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ERANGE = 34;
    public const int ENOTSUP = 95;
    public const int EOPNOTSUPP = 95;

    internal static string Describe(int errno, string operation)
    {
        var text = ErrnoText.Message(errno);
        var hint = errno switch
        {
            EPERM => "; run as root (or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)",
            ENOENT when operation.StartsWith("open", StringComparison.Ordinal) => "; is the .bpf.o beside the binaries? run `make` first",
            ENODEV => "; check the interface name with `ip link`",
            EOPNOTSUPP => "; the kernel or driver does not support this mode, try --xdp-mode generic (or auto)",
            ERANGE when operation.Contains("XDP", StringComparison.Ordinal) =>
                "; the driver refuses native XDP at this MTU (a veth: its peer's MTU is too large), try --xdp-mode generic (or auto)",
            EBUSY or EEXIST => "; another program is attached, detach it (`ip link set dev IFACE xdp off`) or stop the other tool",
            E2BIG => "; the kernel rejected the program as too large",
            EINVAL when operation.Contains("load", StringComparison.Ordinal) => "; the verifier rejected the program, see the libbpf log above",
            _ => string.Empty,
        };
        return $"{operation}: {text}{hint}";
    }

    /// <summary>Throws when a libbpf call returned a negative errno.</summary>
    internal static int ThrowIfNegative(int result, string operation)
    {
        if (result < 0)
            throw new BpfException(-result, operation);
        return result;
    }

    /// <summary>Throws when a libbpf constructor returned NULL; errno holds the reason.</summary>
    internal static nint ThrowIfNull(nint result, string operation)
    {
        if (result == nint.Zero)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            throw new BpfException(errno == 0 ? EINVAL : errno, operation);
        }
        return result;
    }
}

internal static class ErrnoText
{
    internal static unsafe string Message(int errno)
    {
        try
        {
            byte* buf = stackalloc byte[256];
            Interop.Libbpf.libbpf_strerror(errno, buf, 256);
            var s = new string((sbyte*)buf);
            return string.IsNullOrEmpty(s) ? $"errno {errno}" : $"{char.ToLowerInvariant(s[0])}{s[1..]} (errno {errno})";
        }
        catch (DllNotFoundException)
        {
            return $"errno {errno}";
        }
    }
}
