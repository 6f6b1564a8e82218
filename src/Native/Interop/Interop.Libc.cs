// The few libc calls the node needs: interface lookup, identity, clocks, printf of libbpf's va_list, close.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        private const string LibraryName = "libc";

        [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial uint if_nametoindex(string ifname);

        [LibraryImport(LibraryName)]
        internal static partial uint geteuid();

        [StructLayout(LayoutKind.Sequential)]
        internal struct timespec
        {
            public long tv_sec;
            public long tv_nsec;
        }

        internal const int CLOCK_REALTIME = 0;
        internal const int CLOCK_MONOTONIC = 1;

        [LibraryImport(LibraryName)]
        internal static partial int clock_gettime(int clockid, out timespec tp);

        // va_list is passed by pointer on x86-64 and arm64 Linux, which is what libbpf hands us.
        [LibraryImport(LibraryName)]
        internal static unsafe partial int vsnprintf(byte* str, nuint size, nint format, nint ap);

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static partial int close(int fd);

        internal const int AF_INET = 2;
        internal const int SOCK_DGRAM = 2;
        internal const ulong SIOCETHTOOL = 0x8946;

        /// <summary>struct ifreq with ifr_data: the name, then a pointer (40 bytes in all on 64-bit).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct ifreq_data
        {
            public fixed byte ifr_name[16];
            public void* ifr_data;
            private fixed byte _pad[16];
        }

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static partial int socket(int domain, int type, int protocol);

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial int ioctl(int fd, ulong request, void* arg);

        [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int mount(string source, string target, string filesystemtype, ulong mountflags, nint data);
    }
}
