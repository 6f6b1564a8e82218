// Owns a struct bpf_object*: closing it unloads its programs and maps (unless pinned or linked).
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal sealed class SafeBpfObjectHandle : SafeHandle
{
    public SafeBpfObjectHandle() : base(nint.Zero, ownsHandle: true) { }

    internal SafeBpfObjectHandle(nint handle) : base(nint.Zero, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == nint.Zero;

    protected override bool ReleaseHandle()
    {
        Interop.Libbpf.bpf_object__close(handle);
        return true;
    }
}
