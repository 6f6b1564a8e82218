// libc's file-creation mask: the node's state files are created private.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        [LibraryImport(LibraryName)]
        internal static partial uint umask(uint mask);
    }
}
