// Attaching programs: XDP and tcx through bpf_link_create, so closing the link fd detaches.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        /// <summary>Prefix of libbpf's struct bpf_link_create_opts: libbpf reads only the first <c>sz</c> bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct bpf_link_create_opts
        {
            public nuint sz;
            public uint flags;
            private uint _pad;
        }

        // Returns a link fd, or a negative errno.
        [LibraryImport(LibraryName, SetLastError = true)]
        internal static partial int bpf_link_create(int prog_fd, int target_fd, BpfAttachType attach_type, in bpf_link_create_opts opts);

        // Return a struct bpf_link*, or NULL with errno set.
        [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial nint bpf_program__attach_tracepoint(nint prog, string tp_category, string tp_name);

        [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial nint bpf_program__attach_raw_tracepoint(nint prog, string tp_name);

        [LibraryImport(LibraryName)]
        internal static partial int bpf_link__destroy(nint link);

        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_xdp_query_id(int ifindex, int flags, uint* prog_id);

        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_prog_query(int target_fd, BpfAttachType type, uint query_flags, uint* attach_flags, uint* prog_ids, uint* prog_cnt);
    }
}

/// <summary>The kernel's enum bpf_attach_type values we use (uapi/linux/bpf.h, stable ABI).</summary>
internal enum BpfAttachType
{
    Xdp = 37,
    TcxIngress = 46,
    TcxEgress = 47,
}
