// An attachment owned by a link fd: Dispose detaches, and so does the process exiting or being killed.
namespace PacketScope.Native;

public sealed class BpfLink : IDisposable
{
    // Either a raw link fd (bpf_link_create) or a libbpf struct bpf_link* (attach helpers).
    private readonly System.Runtime.InteropServices.SafeHandle _handle;

    internal BpfLink(SafeFileDescriptorHandle fd, string description)
    {
        _handle = fd;
        Description = description;
    }

    internal BpfLink(SafeBpfLinkHandle link, string description)
    {
        _handle = link;
        Description = description;
    }

    public string Description { get; }

    public bool IsAttached => !_handle.IsClosed;

    public void Dispose() => _handle.Dispose();
}
