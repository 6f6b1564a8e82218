// An opened (then loaded) BPF ELF object: its programs and maps, closed on Dispose.
namespace PacketScope.Native;

public sealed class BpfObject : IDisposable
{
    private readonly SafeBpfObjectHandle _handle;
    private bool _loaded;

    private BpfObject(SafeBpfObjectHandle handle, string path)
    {
        _handle = handle;
        Path = path;
    }

    public string Path { get; }

    public bool IsLoaded => _loaded;

    /// <summary>Opens an ELF object; maps can be resized before <see cref="Load"/>.</summary>
    public static BpfObject Open(string path)
    {
        Libbpf.EnsureAvailable();
        if (!File.Exists(path))
            throw new BpfException(BpfException.ENOENT, $"open BPF object {path}");
        var ptr = BpfException.ThrowIfNull(Interop.Libbpf.bpf_object__open_file(path, nint.Zero), $"open BPF object {path}");
        return new BpfObject(new SafeBpfObjectHandle(ptr), path);
    }

    public void Load()
    {
        BpfException.ThrowIfNegative(Interop.Libbpf.bpf_object__load(Handle), $"load BPF object {System.IO.Path.GetFileName(Path)}");
        _loaded = true;
    }

    public BpfProgram Program(string name)
    {
        var ptr = Interop.Libbpf.bpf_object__find_program_by_name(Handle, name);
        if (ptr == nint.Zero)
            throw new BpfException(BpfException.ENOENT, $"find program {name} in {System.IO.Path.GetFileName(Path)}");
        return new BpfProgram(this, ptr, name);
    }

    public BpfMap Map(string name)
    {
        var ptr = Interop.Libbpf.bpf_object__find_map_by_name(Handle, name);
        if (ptr == nint.Zero)
            throw new BpfException(BpfException.ENOENT, $"find map {name} in {System.IO.Path.GetFileName(Path)}");
        return new BpfMap(this, ptr, name);
    }

    /// <summary>Every map of the object with its shape (after any resize), internal ones (.rodata, .bss) flagged.</summary>
    public IReadOnlyList<BpfMapDefinition> MapDefinitions()
    {
        var list = new List<BpfMapDefinition>();
        for (var m = Interop.Libbpf.bpf_object__next_map(Handle, nint.Zero); m != nint.Zero; m = Interop.Libbpf.bpf_object__next_map(Handle, m))
            list.Add(new BpfMapDefinition(
                System.Runtime.InteropServices.Marshal.PtrToStringUTF8(Interop.Libbpf.bpf_map__name(m)) ?? "",
                Interop.Libbpf.bpf_map__type(m), Interop.Libbpf.bpf_map__key_size(m), Interop.Libbpf.bpf_map__value_size(m),
                Interop.Libbpf.bpf_map__max_entries(m), Interop.Libbpf.bpf_map__map_flags(m), Interop.Libbpf.bpf_map__is_internal(m)));
        return list;
    }

    /// <summary>Before load: the map named takes this existing map (a pinned one) instead of creating its own.</summary>
    internal void ReuseMap(string name, SafeFileDescriptorHandle fd)
    {
        if (_loaded)
            throw new InvalidOperationException($"reuse map {name}: only before the object is loaded");
        var map = Interop.Libbpf.bpf_object__find_map_by_name(Handle, name);
        if (map == nint.Zero)
            throw new BpfException(BpfException.ENOENT, $"find map {name} in {System.IO.Path.GetFileName(Path)}");
        BpfException.ThrowIfNegative(Interop.Libbpf.bpf_map__reuse_fd(map, fd.Fd), $"reuse pinned map {name}");
    }

    internal SafeBpfObjectHandle SafeHandle => _handle;

    internal nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.DangerousGetHandle();
        }
    }

    /// <summary>Throws unless loaded and not yet disposed: its maps and programs are freed with it.</summary>
    internal void EnsureLoaded(string operation)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (!_loaded)
            throw new InvalidOperationException($"{operation}: the BPF object is not loaded yet");
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>A map's shape as the object defines it: what must match for a pinned map to be taken over.</summary>
public readonly record struct BpfMapDefinition(string Name, int Type, uint KeySize, uint ValueSize, uint MaxEntries, uint Flags, bool Internal);
