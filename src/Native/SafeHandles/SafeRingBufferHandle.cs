// Owns a struct ring_buffer* from ring_buffer__new.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal sealed class SafeRingBufferHandle : SafeHandle
{
    // The callback context: freed only after ring_buffer__free, when no callback can run any more.
    private GCHandle _context;

    internal SafeRingBufferHandle(nint handle, GCHandle context) : base(nint.Zero, ownsHandle: true)
    {
        SetHandle(handle);
        _context = context;
    }

    public override bool IsInvalid => handle == nint.Zero;

    protected override bool ReleaseHandle()
    {
        Interop.Libbpf.ring_buffer__free(handle);
        if (_context.IsAllocated)
            _context.Free();
        return true;
    }
}
