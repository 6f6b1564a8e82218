// A 64-bit fingerprint of a kernel value: a batch read can copy a value while a CPU updates it
// (new last_seen, old counters), so changes are detected on the whole value, not one timestamp.
using System.Numerics;
using System.Runtime.InteropServices;

namespace PacketScope.Actors.Telemetry;

public static class Fingerprint
{
    public static ulong Of<T>(in T value) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value));
        var words = MemoryMarshal.Cast<byte, ulong>(bytes);
        var h = 0x9E3779B97F4A7C15UL ^ (ulong)bytes.Length;
        foreach (var w in words)
            h = BitOperations.RotateLeft((h ^ w) * 0xBF58476D1CE4E5B9UL, 31);
        for (var i = words.Length * 8; i < bytes.Length; i++)
            h = BitOperations.RotateLeft((h ^ bytes[i]) * 0x94D049BB133111EBUL, 27);
        return h;
    }
}
