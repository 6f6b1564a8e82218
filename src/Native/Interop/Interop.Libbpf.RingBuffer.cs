// BPF ring buffers: libbpf's consumer side (ring_buffer__new/poll/consume/free).
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        // sample_cb: int (*)(void *ctx, void *data, size_t size)
        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial nint ring_buffer__new(int map_fd, delegate* unmanaged<nint, nint, nuint, int> sample_cb, nint ctx, nint opts);

        [LibraryImport(LibraryName)]
        internal static partial int ring_buffer__poll(nint rb, int timeout_ms);

        [LibraryImport(LibraryName)]
        internal static partial int ring_buffer__consume(nint rb);

        [LibraryImport(LibraryName)]
        internal static partial void ring_buffer__free(nint rb);
    }
}
