// Converts bpf_ktime_get_ns() readings (CLOCK_MONOTONIC) to wall-clock time.
namespace PacketScope.Native;

public static class MonotonicClock
{
    public static ulong NowNs()
    {
        Interop.Libc.clock_gettime(Interop.Libc.CLOCK_MONOTONIC, out var ts);
        return (ulong)ts.tv_sec * 1_000_000_000UL + (ulong)ts.tv_nsec;
    }

    /// <summary>
    /// Realtime minus monotonic, in ns, sampled now: add it to a monotonic reading to get Unix time.
    /// Sampled per read, so a wall-clock step (NTP) is picked up at the next read.
    /// </summary>
    public static long RealtimeOffsetNs()
    {
        Interop.Libc.clock_gettime(Interop.Libc.CLOCK_MONOTONIC, out var m1);
        Interop.Libc.clock_gettime(Interop.Libc.CLOCK_REALTIME, out var r);
        Interop.Libc.clock_gettime(Interop.Libc.CLOCK_MONOTONIC, out var m2);
        var mono = (m1.tv_sec * 1_000_000_000L + m1.tv_nsec + m2.tv_sec * 1_000_000_000L + m2.tv_nsec) / 2;
        return r.tv_sec * 1_000_000_000L + r.tv_nsec - mono;
    }

    public static DateTimeOffset ToWallClock(ulong monotonicNs, long offsetNs)
    {
        if (monotonicNs == 0)
            return DateTimeOffset.UnixEpoch;
        var unixNs = (long)monotonicNs + offsetNs;
        return DateTimeOffset.UnixEpoch.AddTicks(unixNs / 100);
    }
}
