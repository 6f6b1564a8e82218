// libbpf's log callback: int (*)(enum libbpf_print_level, const char *fmt, va_list ap).
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        internal enum libbpf_print_level
        {
            LIBBPF_WARN = 0,
            LIBBPF_INFO = 1,
            LIBBPF_DEBUG = 2,
        }

        [LibraryImport(LibraryName)]
        internal static unsafe partial nint libbpf_set_print(delegate* unmanaged<libbpf_print_level, nint, nint, int> fn);
    }
}
