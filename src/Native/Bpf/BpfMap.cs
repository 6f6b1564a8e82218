// A BPF map: typed single-element and batch access. Per-CPU maps hold one value per possible CPU.
using System.Runtime.CompilerServices;

namespace PacketScope.Native;

public enum BpfMapType
{
    Hash = 1,
    Array = 2,
    PerCpuHash = 5,
    PerCpuArray = 6,
    LruHash = 9,
    LruPerCpuHash = 10,
    RingBuf = 27,
}

public sealed unsafe class BpfMap : IDisposable
{
    private const ulong BPF_ANY = 0;
    private const ulong BPF_NOEXIST = 1;

    private readonly BpfObject? _owner;
    private readonly nint _map;
    private readonly SafeFileDescriptorHandle? _ownedFd;

    internal BpfMap(BpfObject owner, nint map, string name)
    {
        _owner = owner;
        _map = map;
        Name = name;
    }

    private BpfMap(SafeFileDescriptorHandle fd, string name, BpfMapType type, uint keySize, uint valueSize, uint maxEntries)
    {
        _ownedFd = fd;
        Name = name;
        _type = type;
        _keySize = keySize;
        _valueSize = valueSize;
        _maxEntries = maxEntries;
    }

    private readonly BpfMapType? _type;
    private readonly uint _keySize, _valueSize, _maxEntries;

    /// <summary>Creates a standalone map (benchmarks, tests); the map lives until Dispose.</summary>
    public static BpfMap Create(BpfMapType type, string name, uint keySize, uint valueSize, uint maxEntries)
    {
        Libbpf.EnsureAvailable();
        var fd = BpfException.ThrowIfNegative(
            Interop.Libbpf.bpf_map_create((int)type, name, keySize, valueSize, maxEntries, nint.Zero),
            $"create map {name}");
        return new BpfMap(new SafeFileDescriptorHandle(fd), name, type, keySize, valueSize, maxEntries);
    }

    /// <summary>
    /// Opens a map the kernel already holds, by its id (another process's map: benchmarks that fill a running node's
    /// tables). The caller says its shape (as /proc/PID/fdinfo shows it); the map lives on after Dispose.
    /// </summary>
    /// <summary>Opens a map pinned in bpffs (its shape read from the kernel); the map lives on after Dispose.</summary>
    public static BpfMap OpenPinned(string path)
    {
        Libbpf.EnsureAvailable();
        var fd = BpfFs.Open(path) ?? throw new BpfException(BpfException.ENOENT, $"open pinned map {path}");
        // struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags, ...
        var info = stackalloc uint[32];
        new Span<uint>(info, 32).Clear();
        uint len = 32 * sizeof(uint);
        BpfException.ThrowIfNegative(Interop.Libbpf.bpf_obj_get_info_by_fd(fd.Fd, info, &len), $"read pinned map {path}");
        return new BpfMap(fd, Path.GetFileName(path), (BpfMapType)info[0], info[2], info[3], info[4]);
    }

    public static BpfMap OpenById(uint id, string name, BpfMapType type, uint keySize, uint valueSize, uint maxEntries)
    {
        Libbpf.EnsureAvailable();
        var fd = BpfException.ThrowIfNegative(Interop.Libbpf.bpf_map_get_fd_by_id(id), $"open map {name} (id {id})");
        return new BpfMap(new SafeFileDescriptorHandle(fd), name, type, keySize, valueSize, maxEntries);
    }

    /// <summary>Creates a standalone map sized for <typeparamref name="TKey"/>/<typeparamref name="TValue"/>.</summary>
    public static BpfMap Create<TKey, TValue>(BpfMapType type, string name, uint maxEntries)
        where TKey : unmanaged where TValue : unmanaged =>
        Create(type, name, (uint)sizeof(TKey), (uint)sizeof(TValue), maxEntries);

    public string Name { get; }

    public BpfMapType Type => _type ?? (BpfMapType)Interop.Libbpf.bpf_map__type(_map);

    public uint KeySize => _ownedFd is null ? Interop.Libbpf.bpf_map__key_size(_map) : _keySize;

    public uint ValueSize => _ownedFd is null ? Interop.Libbpf.bpf_map__value_size(_map) : _valueSize;

    public uint MaxEntries => _ownedFd is null ? Interop.Libbpf.bpf_map__max_entries(_map) : _maxEntries;

    public bool IsPerCpu => Type is BpfMapType.PerCpuArray or BpfMapType.PerCpuHash or BpfMapType.LruPerCpuHash;

    /// <summary>Resizes the map; only before the object is loaded.</summary>
    public void SetMaxEntries(uint maxEntries)
    {
        if (_owner is null || _owner.IsLoaded)
            throw new InvalidOperationException($"set max entries of {Name}: only before the object is loaded");
        BpfException.ThrowIfNegative(Interop.Libbpf.bpf_map__set_max_entries(_map, maxEntries), $"set max entries of {Name}");
    }

    public int Fd
    {
        get
        {
            if (_ownedFd is not null)
            {
                ObjectDisposedException.ThrowIf(_ownedFd.IsClosed, this);
                return _ownedFd.Fd;
            }
            _owner!.EnsureLoaded($"get fd of map {Name}");
            return BpfException.ThrowIfNegative(Interop.Libbpf.bpf_map__fd(_map), $"get fd of map {Name}");
        }
    }

    /// <summary>
    /// Holds the map's owner open for one syscall: a Dispose on another thread (an interface reload)
    /// then waits for the call instead of closing the fd under it (and a reused fd number).
    /// </summary>
    internal readonly ref struct FdLease
    {
        private readonly System.Runtime.InteropServices.SafeHandle _handle;

        internal FdLease(System.Runtime.InteropServices.SafeHandle handle, int fd)
        {
            _handle = handle;
            Fd = fd;
        }

        public int Fd { get; }

        public void Dispose() => _handle.DangerousRelease();
    }

    internal FdLease Lease()
    {
        System.Runtime.InteropServices.SafeHandle handle = _ownedFd is not null ? _ownedFd : _owner!.SafeHandle;
        var added = false;
        handle.DangerousAddRef(ref added); // throws ObjectDisposedException once closed
        try
        {
            return new FdLease(handle, Fd);
        }
        catch
        {
            handle.DangerousRelease();
            throw;
        }
    }

    public bool TryLookup<TKey, TValue>(in TKey key, out TValue value)
        where TKey : unmanaged where TValue : unmanaged
    {
        CheckSizes<TKey, TValue>(values: 1, entries: 1);
        value = default;
        using var lease = Lease();
        fixed (TKey* k = &key)
        fixed (TValue* v = &value)
        {
            var rc = Interop.Libbpf.bpf_map_lookup_elem(lease.Fd, k, v);
            if (rc == -BpfException.ENOENT)
                return false;
            BpfException.ThrowIfNegative(rc, $"look up in map {Name}");
            return true;
        }
    }

    /// <summary>Per-CPU lookup: <paramref name="values"/> receives one value per possible CPU.</summary>
    public bool TryLookupPerCpu<TKey, TValue>(in TKey key, Span<TValue> values)
        where TKey : unmanaged where TValue : unmanaged
    {
        CheckSizes<TKey, TValue>(values: values.Length, entries: 1);
        using var lease = Lease();
        fixed (TKey* k = &key)
        fixed (TValue* v = values)
        {
            var rc = Interop.Libbpf.bpf_map_lookup_elem(lease.Fd, k, v);
            if (rc == -BpfException.ENOENT)
                return false;
            BpfException.ThrowIfNegative(rc, $"look up in map {Name}");
            return true;
        }
    }

    public void Update<TKey, TValue>(in TKey key, in TValue value, bool onlyIfAbsent = false)
        where TKey : unmanaged where TValue : unmanaged =>
        UpdateValues(key, new ReadOnlySpan<TValue>(in value), onlyIfAbsent ? BPF_NOEXIST : BPF_ANY);

    /// <summary>Per-CPU update: <paramref name="values"/> holds one value per possible CPU.</summary>
    public void UpdatePerCpu<TKey, TValue>(in TKey key, ReadOnlySpan<TValue> values)
        where TKey : unmanaged where TValue : unmanaged =>
        UpdateValues(key, values, BPF_ANY);

    private void UpdateValues<TKey, TValue>(in TKey key, ReadOnlySpan<TValue> values, ulong flags)
        where TKey : unmanaged where TValue : unmanaged
    {
        CheckSizes<TKey, TValue>(values: values.Length, entries: 1);
        using var lease = Lease();
        fixed (TKey* k = &key)
        fixed (TValue* v = values)
            BpfException.ThrowIfNegative(Interop.Libbpf.bpf_map_update_elem(lease.Fd, k, v, flags), $"update map {Name}");
    }

    public bool Delete<TKey>(in TKey key) where TKey : unmanaged
    {
        using var lease = Lease();
        fixed (TKey* k = &key)
        {
            var rc = Interop.Libbpf.bpf_map_delete_elem(lease.Fd, k);
            if (rc == -BpfException.ENOENT)
                return false;
            BpfException.ThrowIfNegative(rc, $"delete from map {Name}");
            return true;
        }
    }

    /// <summary>Starts a batch read of the whole map; pull batches with <see cref="MapBatchReader{TKey, TValue}.Next"/>.</summary>
    public MapBatchReader<TKey, TValue> OpenBatchRead<TKey, TValue>()
        where TKey : unmanaged where TValue : unmanaged
    {
        CheckSizes<TKey, TValue>(values: IsPerCpu ? Libbpf.PossibleCpus : 1, entries: 1);
        return new MapBatchReader<TKey, TValue>(this, IsPerCpu ? Libbpf.PossibleCpus : 1);
    }

    /// <summary>Writes many entries in one syscall (used to fill maps in benchmarks and tests).</summary>
    public void UpdateBatch<TKey, TValue>(ReadOnlySpan<TKey> keys, ReadOnlySpan<TValue> values)
        where TKey : unmanaged where TValue : unmanaged
    {
        CheckSizes<TKey, TValue>(values: values.Length, entries: keys.Length);
        var opts = new Interop.Libbpf.bpf_map_batch_opts { sz = (nuint)sizeof(Interop.Libbpf.bpf_map_batch_opts) };
        uint count = (uint)keys.Length;
        using var lease = Lease();
        fixed (TKey* k = keys)
        fixed (TValue* v = values)
            BpfException.ThrowIfNegative(Interop.Libbpf.bpf_map_update_batch(lease.Fd, k, v, &count, in opts), $"batch update of map {Name}");
    }

    /// <summary>
    /// Checks the element types against the map and that <paramref name="values"/> values are what the
    /// kernel will write for <paramref name="entries"/> entries (one per possible CPU each, for per-CPU maps).
    /// </summary>
    private void CheckSizes<TKey, TValue>(int values, int entries) where TKey : unmanaged where TValue : unmanaged
    {
        if (sizeof(TKey) != KeySize)
            throw new ArgumentException($"map {Name}: key is {KeySize} bytes, {typeof(TKey).Name} is {sizeof(TKey)}");
        // Per-CPU values are laid out at 8-byte strides; our mirrors are 8-byte multiples.
        if (sizeof(TValue) != ValueSize && !(IsPerCpu && sizeof(TValue) == ((ValueSize + 7) & ~7u)))
            throw new ArgumentException($"map {Name}: value is {ValueSize} bytes, {typeof(TValue).Name} is {sizeof(TValue)}");
        var needed = entries * (IsPerCpu ? Libbpf.PossibleCpus : 1);
        if (values != needed)
            throw new ArgumentException($"map {Name}: {entries} entries need {needed} values ({(IsPerCpu ? "one per possible CPU" : "one each")}), got {values}");
    }

    public void Dispose() => _ownedFd?.Dispose();
}

/// <summary>A batch read in progress (BPF_MAP_LOOKUP_BATCH): each Next returns the next entries, 0 at the end.</summary>
public sealed unsafe class MapBatchReader<TKey, TValue>
    where TKey : unmanaged where TValue : unmanaged
{
    private readonly BpfMap _map;
    private readonly byte[] _token = new byte[Math.Max(sizeof(TKey), 8) * 2];
    private bool _started, _done;

    internal MapBatchReader(BpfMap map, int cpus)
    {
        _map = map;
        ValuesPerKey = cpus;
    }

    /// <summary>Values per key: the number of possible CPUs for per-CPU maps, else 1.</summary>
    public int ValuesPerKey { get; }

    public int Next(Span<TKey> keys, Span<TValue> values)
    {
        if (_done)
            return 0;
        if (values.Length < keys.Length * ValuesPerKey)
            throw new ArgumentException($"values must hold keys.Length * {ValuesPerKey} entries", nameof(values));
        var opts = new Interop.Libbpf.bpf_map_batch_opts { sz = (nuint)sizeof(Interop.Libbpf.bpf_map_batch_opts) };
        var half = _token.Length / 2;
        uint count = (uint)keys.Length;
        int rc;
        using var lease = _map.Lease();
        fixed (byte* t = _token)
        fixed (TKey* k = keys)
        fixed (TValue* v = values)
        {
            if (_started)
                Buffer.MemoryCopy(t + half, t, half, half);
            rc = Interop.Libbpf.bpf_map_lookup_batch(lease.Fd, _started ? t : null, t + half, k, v, &count, in opts);
        }
        _started = true;
        if (rc == -BpfException.ENOENT)
            _done = true;
        else
            BpfException.ThrowIfNegative(rc, $"batch read of map {_map.Name}");
        return (int)count;
    }
}
