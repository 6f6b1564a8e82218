// Tracepoint attach through libbpf: a real program counts net:netif_receive_skb while attached, and stops when detached.
using PacketScope.Kernel.Tests.Fixtures;
using PacketScope.Native;
using Xunit;

namespace PacketScope.Kernel.Tests;

public sealed class TracepointSpecs
{
    private static ulong Count(BpfMap map)
    {
        var perCpu = new ulong[Libbpf.PossibleCpus];
        Assert.True(map.TryLookupPerCpu(0u, perCpu));
        return perCpu.Aggregate(0ul, (a, b) => a + b);
    }

    [Fact]
    public void Should_count_received_packets_while_attached_and_nothing_once_detached()
    {
        using var ns = VethNamespace.Create();
        using var obj = BpfObject.Open(Path.Combine(AppContext.BaseDirectory, "bpf", "test_tracepoint.bpf.o"));
        obj.Load();
        var counter = obj.Map("ps_test_rx_events");

        var link = obj.Program("ps_tp_netif_receive_skb").AttachTracepoint("net", "netif_receive_skb");
        ns.Ping(3); // 3 replies are received on the host side (other traffic may add to it)
        var attached = Count(counter);
        Assert.True(attached >= 3, $"{attached} events");

        link.Dispose();
        Assert.False(link.IsAttached);
        var detached = Count(counter); // other traffic may have counted until the detach
        ns.Ping(3);
        Assert.Equal(detached, Count(counter));
    }

    [Fact]
    public void Should_name_a_tracepoint_that_does_not_exist()
    {
        using var obj = BpfObject.Open(Path.Combine(AppContext.BaseDirectory, "bpf", "test_tracepoint.bpf.o"));
        obj.Load();
        var e = Assert.Throws<BpfException>(() => obj.Program("ps_tp_netif_receive_skb").AttachTracepoint("net", "no_such_event"));
        Assert.Contains("tracepoint net:no_such_event", e.Message);
        Assert.Equal(BpfException.ENOENT, e.Errno);
    }
}
