// Consumer of a BPF ring buffer map: each record is copied and handed to a callback on the polling thread.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

public sealed unsafe class RingBuffer : IDisposable
{
    private readonly SafeRingBufferHandle _handle;
    private readonly GCHandle _self;
    private readonly Action<ReadOnlySpan<byte>> _onRecord;

    public RingBuffer(BpfMap map, Action<ReadOnlySpan<byte>> onRecord)
    {
        if (map.Type != BpfMapType.RingBuf)
            throw new ArgumentException($"map {map.Name} is not a ring buffer", nameof(map));
        _onRecord = onRecord;
        _self = GCHandle.Alloc(this);
        try
        {
            var ptr = BpfException.ThrowIfNull(
                Interop.Libbpf.ring_buffer__new(map.Fd, &OnSample, GCHandle.ToIntPtr(_self), nint.Zero),
                $"open ring buffer {map.Name}");
            _handle = new SafeRingBufferHandle(ptr);
        }
        catch
        {
            _self.Free();
            throw;
        }
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for records; returns how many were consumed.</summary>
    public int Poll(int timeoutMs)
    {
        var rc = Interop.Libbpf.ring_buffer__poll(_handle.DangerousGetHandle(), timeoutMs);
        if (rc == -4) // EINTR: a signal, not an error
            return 0;
        return BpfException.ThrowIfNegative(rc, "poll ring buffer");
    }

    [UnmanagedCallersOnly]
    private static int OnSample(nint ctx, nint data, nuint size)
    {
        try
        {
            var self = (RingBuffer)GCHandle.FromIntPtr(ctx).Target!;
            self._onRecord(new ReadOnlySpan<byte>((void*)data, (int)size));
            return 0;
        }
        catch
        {
            // An exception must not cross into C; a negative value stops this poll and is returned by it.
            return -BpfException.EINVAL;
        }
    }

    public void Dispose()
    {
        _handle.Dispose();
        if (_self.IsAllocated)
            _self.Free();
    }
}
