// Pinning in bpffs: programs' links and maps outlive the process, and a new process takes them over.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        // The low-level calls return a negative errno.
        [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int bpf_obj_pin(int fd, string pathname);

        [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int bpf_obj_get(string pathname);

        // opts may be NULL: replace whatever program the link runs with new_prog_fd, atomically.
        [LibraryImport(LibraryName)]
        internal static partial int bpf_link_update(int link_fd, int new_prog_fd, nint opts);

        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_obj_get_info_by_fd(int bpf_fd, void* info, uint* info_len);

        [LibraryImport(LibraryName)]
        internal static partial nint bpf_object__next_map(nint obj, nint map);

        [LibraryImport(LibraryName)]
        internal static partial nint bpf_map__name(nint map);





        [LibraryImport(LibraryName)]
        internal static partial uint bpf_map__map_flags(nint map);

        [LibraryImport(LibraryName)]
        [return: MarshalAs(UnmanagedType.U1)]
        internal static partial bool bpf_map__is_internal(nint map);

        // Makes the object use this existing map instead of creating one at load (the fd is dup'ed).
        [LibraryImport(LibraryName)]
        internal static partial int bpf_map__reuse_fd(nint map, int fd);
    }
}
