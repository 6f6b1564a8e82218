// An attachment owned by a link fd: Dispose detaches, and so does the process exiting or being killed.
namespace PacketScope.Native;

public sealed class BpfLink : IDisposable
{
    private readonly SafeFileDescriptorHandle _fd;

    internal BpfLink(SafeFileDescriptorHandle fd, string description)
    {
        _fd = fd;
        Description = description;
    }

    public string Description { get; }

    public bool IsAttached => !_fd.IsClosed;

    public void Dispose() => _fd.Dispose();
}
