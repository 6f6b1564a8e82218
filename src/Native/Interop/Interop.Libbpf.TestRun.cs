// BPF_PROG_RUN: run a loaded program on a given packet (tests), or send live frames (traffic generation).
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct bpf_test_run_opts
        {
            public nuint sz;
            public void* data_in;
            public void* data_out;
            public uint data_size_in;
            public uint data_size_out;
            public void* ctx_in;
            public void* ctx_out;
            public uint ctx_size_in;
            public uint ctx_size_out;
            public uint retval;
            public int repeat;
            public uint duration;
            public uint flags;
            public uint cpu;
            public uint batch_size;
        }

        /// <summary>struct xdp_md, the XDP context passed as ctx_in.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct xdp_md
        {
            public uint data;
            public uint data_end;
            public uint data_meta;
            public uint ingress_ifindex;
            public uint rx_queue_index;
            public uint egress_ifindex;
        }

        internal const uint BPF_F_TEST_XDP_LIVE_FRAMES = 1u << 1;

        [LibraryImport(LibraryName)]
        internal static unsafe partial int bpf_prog_test_run_opts(int prog_fd, bpf_test_run_opts* opts);
    }
}
