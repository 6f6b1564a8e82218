// Reads the tracker's kernel maps in tests.
using PacketScope.Native;
using PacketScope.Native.Shared;

namespace PacketScope.Kernel.Tests.Fixtures;

internal static class Maps
{
    public static List<(TKey Key, TValue Value)> All<TKey, TValue>(BpfMap map)
        where TKey : unmanaged where TValue : unmanaged
    {
        var result = new List<(TKey, TValue)>();
        var keys = new TKey[256];
        var values = new TValue[256];
        var reader = map.OpenBatchRead<TKey, TValue>();
        int n;
        while ((n = reader.Next(keys, values)) > 0)
            for (var i = 0; i < n; i++)
                result.Add((keys[i], values[i]));
        return result;
    }

    public static List<(ps_flow_key Key, ps_flow_value Value)> Flows(ConntrackProgram p) => All<ps_flow_key, ps_flow_value>(p.Flows);

    public static List<(ps_icmp_key Key, ps_icmp_value Value)> Icmp(ConntrackProgram p) => All<ps_icmp_key, ps_icmp_value>(p.Icmp);

    /// <summary>A stats counter summed over CPUs.</summary>
    public static ps_counter Stat(ConntrackProgram p, int hook, StatId stat) =>
        Actors.Interfaces.StatsStreamActor.ReadCounter(p.Stats, hook, stat);
}
