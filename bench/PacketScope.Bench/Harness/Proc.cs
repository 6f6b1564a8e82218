// Process memory from /proc: resident set (VmRSS, its peak VmHWM, anonymous vs file-backed) and the
// kernel memory of the BPF maps a process holds (fdinfo memlock), which RSS does not show.
using System.Globalization;

namespace PacketScope.Bench.Harness;

internal readonly record struct MemoryReading(long RssKb, long PeakKb, long AnonKb, long FileKb, long ShmemKb)
{
    public static MemoryReading Of(int pid) => Parse(File.ReadAllLines($"/proc/{pid}/status"));

    public static MemoryReading Self() => Parse(File.ReadAllLines("/proc/self/status"));

    private static MemoryReading Parse(string[] lines)
    {
        long Field(string name)
        {
            var line = lines.FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal))
                ?? throw new InvalidOperationException($"/proc status has no {name}");
            return long.Parse(line[(name.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        return new MemoryReading(Field("VmRSS"), Field("VmHWM"), Field("RssAnon"), Field("RssFile"), Field("RssShmem"));
    }

    public double RssMb => RssKb / 1024.0;
    public double PeakMb => PeakKb / 1024.0;
    public double AnonMb => AnonKb / 1024.0;
    public double FileMb => FileKb / 1024.0;
    /// <summary>Shared memory: the runtime's double-mapped (W^X) code pages show up here.</summary>
    public double ShmemMb => ShmemKb / 1024.0;
}

internal static class Proc
{
    /// <summary>Resets this process's VmHWM to its current RSS (Linux 4.0+), so the peak covers what follows.</summary>
    public static void ResetPeakRss() => File.WriteAllText("/proc/self/clear_refs", "5");

    /// <summary>Sum of memlock over the BPF maps the process has open, in bytes (kernel memory, not in RSS).</summary>
    public static long BpfMapMemlock(int pid)
    {
        long total = 0;
        var seen = new HashSet<string>();
        foreach (var file in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(file);
            }
            catch (IOException)
            {
                continue; // the fd closed meanwhile
            }
            var id = lines.FirstOrDefault(l => l.StartsWith("map_id:", StringComparison.Ordinal));
            if (id is null || !seen.Add(id))
                continue; // not a map, or a second fd of one already counted
            var memlock = lines.FirstOrDefault(l => l.StartsWith("memlock:", StringComparison.Ordinal));
            if (memlock is not null)
                total += long.Parse(memlock["memlock:".Length..].Trim(), CultureInfo.InvariantCulture);
        }
        return total;
    }
}
