// Consumer of a BPF ring buffer map: each record is copied and handed to a callback on the polling thread.
using System.Runtime.InteropServices;

namespace PacketScope.Native;

public sealed unsafe class RingBuffer : IDisposable
{
    private readonly SafeRingBufferHandle _handle;
    private readonly Action<ReadOnlySpan<byte>> _onRecord;

    public RingBuffer(BpfMap map, Action<ReadOnlySpan<byte>> onRecord)
    {
        if (map.Type != BpfMapType.RingBuf)
            throw new ArgumentException($"map {map.Name} is not a ring buffer", nameof(map));
        _onRecord = onRecord;
        var self = GCHandle.Alloc(this);
        try
        {
            var ptr = BpfException.ThrowIfNull(
                Interop.Libbpf.ring_buffer__new(map.Fd, &OnSample, GCHandle.ToIntPtr(self), nint.Zero),
                $"open ring buffer {map.Name}");
            _handle = new SafeRingBufferHandle(ptr, self);
        }
        catch
        {
            self.Free();
            throw;
        }
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for records; returns how many were consumed.</summary>
    public int Poll(int timeoutMs)
    {
        // Hold a reference for the call: a Dispose on another thread waits instead of freeing under us.
        var added = false;
        _handle.DangerousAddRef(ref added);
        try
        {
            var rc = Interop.Libbpf.ring_buffer__poll(_handle.DangerousGetHandle(), timeoutMs);
            if (rc == -4) // EINTR: a signal, not an error
                return 0;
            return BpfException.ThrowIfNegative(rc, "poll ring buffer");
        }
        finally
        {
            if (added)
                _handle.DangerousRelease();
        }
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

    public void Dispose() => _handle.Dispose();
}
