// Owns a struct ring_buffer* from ring_buffer__new.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal sealed class SafeRingBufferHandle : SafeHandle
{
    internal SafeRingBufferHandle(nint handle) : base(nint.Zero, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == nint.Zero;

    protected override bool ReleaseHandle()
    {
        Interop.Libbpf.ring_buffer__free(handle);
        return true;
    }
}
