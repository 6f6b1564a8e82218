// An attachment owned by a link fd: Dispose detaches, and so does the process exiting or being killed, unless the
// link is pinned in bpffs: then it stays attached until its pin is removed (Release), so a crash never detaches it.
namespace PacketScope.Native;

public sealed class BpfLink : IDisposable
{
    // Either a raw link fd (bpf_link_create, or a pin opened again) or a libbpf struct bpf_link* (attach helpers).
    private readonly System.Runtime.InteropServices.SafeHandle _handle;

    internal BpfLink(SafeFileDescriptorHandle fd, string description, string? pinPath = null)
    {
        _handle = fd;
        Description = description;
        PinPath = pinPath;
    }

    internal BpfLink(SafeBpfLinkHandle link, string description)
    {
        _handle = link;
        Description = description;
    }

    public string Description { get; }

    /// <summary>Where the link is pinned; null when it lives only as long as this process holds it.</summary>
    public string? PinPath { get; private set; }

    public bool IsAttached => !_handle.IsClosed;

    private int Fd => _handle is SafeFileDescriptorHandle fd
        ? fd.Fd
        : throw new InvalidOperationException($"{Description}: only links made by bpf_link_create can be pinned or updated");

    /// <summary>Pins the link: it now outlives this process, until <see cref="Release"/> removes the pin.</summary>
    public void Pin(string path)
    {
        BpfFs.Pin(Fd, path);
        PinPath = path;
    }

    /// <summary>Replaces the program the link runs, atomically: no packet sees the hook empty.</summary>
    public void Update(BpfProgram program) =>
        BpfException.ThrowIfNegative(Interop.Libbpf.bpf_link_update(Fd, program.Fd, nint.Zero), $"replace the program of {Description} with {program.Name}");

    /// <summary>Removes the pin (if any) and closes the link: detached, whatever else held it.</summary>
    public void Release()
    {
        if (PinPath is { } path && File.Exists(path))
            File.Delete(path);
        PinPath = null;
        Dispose();
    }

    /// <summary>Closes this process's hold on the link; a pinned link stays attached.</summary>
    public void Dispose() => _handle.Dispose();
}
