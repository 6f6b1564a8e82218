// Owns a kernel file descriptor (a bpf_link, a map we created): closing it releases the object.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

internal sealed class SafeFileDescriptorHandle : SafeHandle
{
    internal SafeFileDescriptorHandle(int fd) : base(new nint(-1), ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle.ToInt64() < 0;

    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Interop.Libc.close((int)handle) == 0;
}
