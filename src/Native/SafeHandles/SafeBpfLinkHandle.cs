// Owns a struct bpf_link* from libbpf's attach helpers: bpf_link__destroy detaches and frees it.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal sealed class SafeBpfLinkHandle : SafeHandle
{
    internal SafeBpfLinkHandle(nint handle) : base(nint.Zero, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == nint.Zero;

    protected override bool ReleaseHandle() => Interop.Libbpf.bpf_link__destroy(handle) == 0;
}
