// Process-wide libbpf facts and set-up: is the library there, CPU count, where its log goes.
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace PacketScope.Native;

public static unsafe class Libbpf
{
    private static readonly Lazy<int> s_cpus = new(() =>
        BpfException.ThrowIfNegative(Interop.Libbpf.libbpf_num_possible_cpus(), "count possible CPUs"));

    private static ILogger? s_logger;

    /// <summary>Number of possible CPUs: the number of values a per-CPU map returns per key.</summary>
    public static int PossibleCpus => s_cpus.Value;

    /// <summary>Throws a <see cref="BpfException"/> that says what to install when libbpf.so.1 cannot be loaded.</summary>
    public static void EnsureAvailable()
    {
        if (!NativeLibrary.TryLoad(Interop.Libbpf.LibraryName, typeof(Libbpf).Assembly, null, out _))
            throw new LibbpfMissingException();
    }

    /// <summary>Routes libbpf's log (verifier output included) into <paramref name="logger"/>.</summary>
    public static void SetLogger(ILogger logger)
    {
        EnsureAvailable();
        s_logger = logger;
        Interop.Libbpf.libbpf_set_print(&OnPrint);
    }

    [UnmanagedCallersOnly]
    private static int OnPrint(Interop.Libbpf.libbpf_print_level level, nint format, nint args)
    {
        try
        {
            return Print(level, format, args);
        }
        catch
        {
            // An exception must not unwind into libbpf (a disposed logger at shutdown, say): drop the line.
            return 0;
        }
    }

    private static int Print(Interop.Libbpf.libbpf_print_level level, nint format, nint args)
    {
        var logger = s_logger;
        if (logger is null)
            return 0;
        var logLevel = level switch
        {
            Interop.Libbpf.libbpf_print_level.LIBBPF_WARN => LogLevel.Warning,
            Interop.Libbpf.libbpf_print_level.LIBBPF_INFO => LogLevel.Information,
            _ => LogLevel.Debug,
        };
        if (!logger.IsEnabled(logLevel))
            return 0;
        const int size = 4096;
        byte* buf = stackalloc byte[size];
        var n = Interop.Libc.vsnprintf(buf, size, format, args);
        if (n <= 0)
            return 0;
        var text = new string((sbyte*)buf, 0, Math.Min(n, size - 1)).TrimEnd('\n');
        logger.Log(logLevel, "libbpf: {Message}", text);
        return n;
    }
}

public sealed class LibbpfMissingException()
    : Exception("libbpf.so.1 was not found: install it with `apt-get install libbpf1` (or run `make deps`)");
