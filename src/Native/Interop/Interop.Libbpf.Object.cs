// libbpf object, program and map lifecycle: open, configure, load, look up.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        internal const string LibraryName = "libbpf.so.1";

        // Returns NULL and sets errno on failure (libbpf 1.x "strict" mode).
        [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial nint bpf_object__open_file(string path, nint opts);

        [LibraryImport(LibraryName)]
        internal static partial int bpf_object__load(nint obj);

        [LibraryImport(LibraryName)]
        internal static partial void bpf_object__close(nint obj);

        [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial nint bpf_object__find_program_by_name(nint obj, string name);

        [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial nint bpf_object__find_map_by_name(nint obj, string name);

        [LibraryImport(LibraryName)]
        internal static partial int bpf_program__fd(nint prog);

        [LibraryImport(LibraryName)]
        internal static partial int bpf_program__set_expected_attach_type(nint prog, BpfAttachType type);

        [LibraryImport(LibraryName)]
        internal static partial int bpf_map__fd(nint map);

        [LibraryImport(LibraryName)]
        internal static partial int bpf_map__set_max_entries(nint map, uint maxEntries);

        [LibraryImport(LibraryName)]
        internal static partial uint bpf_map__max_entries(nint map);

        [LibraryImport(LibraryName)]
        internal static partial uint bpf_map__key_size(nint map);

        [LibraryImport(LibraryName)]
        internal static partial uint bpf_map__value_size(nint map);

        [LibraryImport(LibraryName)]
        internal static partial int bpf_map__type(nint map);

        [LibraryImport(LibraryName)]
        internal static partial int libbpf_num_possible_cpus();

        [LibraryImport(LibraryName)]
        internal static unsafe partial int libbpf_strerror(int err, byte* buf, nuint size);
    }
}
