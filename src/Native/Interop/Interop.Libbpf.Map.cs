// Map element access: single and batch lookup/update/delete, map creation.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        [StructLayout(LayoutKind.Sequential)]
        internal struct bpf_map_batch_opts
        {
            public nuint sz;
            public ulong elem_flags;
            public ulong flags;
        }

        // The low-level bpf_* calls return a negative errno (and set errno) on failure.
        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_map_lookup_elem(int fd, void* key, void* value);

        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_map_update_elem(int fd, void* key, void* value, ulong flags);

        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_map_delete_elem(int fd, void* key);

        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_map_get_next_key(int fd, void* key, void* next_key);

        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_map_lookup_batch(int fd, void* in_batch, void* out_batch, void* keys, void* values, uint* count, in bpf_map_batch_opts opts);

        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_map_update_batch(int fd, void* keys, void* values, uint* count, in bpf_map_batch_opts opts);

        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_map_delete_batch(int fd, void* keys, uint* count, in bpf_map_batch_opts opts);

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static partial int bpf_map_get_fd_by_id(uint id);

        [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int bpf_map_create(int map_type, string? map_name, uint key_size, uint value_size, uint max_entries, nint opts);
    }
}
