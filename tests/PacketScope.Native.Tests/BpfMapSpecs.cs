// Map access through libbpf against real kernel maps (needs root, as CI has).
using PacketScope.Native.Shared;
using Xunit;

namespace PacketScope.Native.Tests;

public sealed class BpfMapSpecs
{
    [Fact]
    public void Should_update_look_up_and_delete_a_hash_entry()
    {
        using var map = BpfMap.Create(BpfMapType.Hash, "ps_t_hash", 4, 8, 16);
        map.Update(7u, 42ul);
        Assert.True(map.TryLookup(7u, out ulong value));
        Assert.Equal(42ul, value);
        Assert.True(map.Delete(7u));
        Assert.False(map.TryLookup(7u, out value));
        Assert.False(map.Delete(7u));
    }

    [Fact]
    public void Should_refuse_an_insert_into_a_full_map_with_an_errno()
    {
        using var map = BpfMap.Create(BpfMapType.Hash, "ps_t_full", 4, 8, 2);
        map.Update(1u, 1ul);
        map.Update(2u, 2ul);
        var e = Assert.Throws<BpfException>(() => map.Update(3u, 3ul));
        Assert.Equal(BpfException.E2BIG, e.Errno);
        Assert.Contains("update map ps_t_full", e.Message);
    }

    [Fact]
    public void Should_refuse_a_key_of_the_wrong_size()
    {
        using var map = BpfMap.Create(BpfMapType.Hash, "ps_t_size", 4, 8, 2);
        Assert.Throws<ArgumentException>(() => map.Update(1ul, 1ul));
    }

    [Fact]
    public void Should_refuse_a_single_value_buffer_for_a_per_cpu_map()
    {
        using var map = BpfMap.Create(BpfMapType.PerCpuArray, "ps_t_pcpu1", 4, 16, 1);
        Assert.Throws<ArgumentException>(() => map.TryLookup(0u, out ps_counter _));
        Assert.Throws<ArgumentException>(() => map.TryLookupPerCpu(0u, new ps_counter[Libbpf.PossibleCpus + 1]));
    }

    [Fact]
    public void Should_refuse_to_touch_the_maps_of_a_disposed_object()
    {
        var obj = BpfObject.Open(Path.Combine(AppContext.BaseDirectory, "bpf", "test_ringbuf.bpf.o"));
        obj.Load();
        var map = obj.Map("ps_test_events");
        obj.Dispose();
        Assert.Throws<ObjectDisposedException>(() => map.Fd);
    }

    [Theory]
    [InlineData(1, 64)]
    [InlineData(10_000, 1024)]
    [InlineData(5_000, 7)]
    public void Should_batch_read_every_entry_of_a_flow_map_exactly_once(int entries, int batch)
    {
        using var map = BpfMap.Create<ps_flow_key, ps_flow_value>(BpfMapType.LruHash, "ps_t_flows", (uint)(entries * 2));
        var keys = Enumerable.Range(0, entries).Select(Key).ToArray();
        var values = Enumerable.Range(0, entries).Select(i => new ps_flow_value { last_seen_ns = (ulong)i + 1 }).ToArray();
        map.UpdateBatch<ps_flow_key, ps_flow_value>(keys, values);

        var seen = new Dictionary<ps_flow_key, ulong>();
        var reader = map.OpenBatchRead<ps_flow_key, ps_flow_value>();
        var kbuf = new ps_flow_key[batch];
        var vbuf = new ps_flow_value[batch];
        int n;
        while ((n = reader.Next(kbuf, vbuf)) > 0)
            for (var i = 0; i < n; i++)
                Assert.True(seen.TryAdd(kbuf[i], vbuf[i].last_seen_ns), "a key came twice");
        Assert.Equal(0, reader.Next(kbuf, vbuf));

        Assert.Equal(entries, seen.Count);
        for (var i = 0; i < entries; i++)
            Assert.Equal((ulong)i + 1, seen[keys[i]]);
    }

    [Fact]
    public void Should_return_one_value_per_cpu_for_a_per_cpu_array()
    {
        using var map = BpfMap.Create(BpfMapType.PerCpuArray, "ps_t_pcpu", 4, 16, 4);
        var values = new ps_counter[Libbpf.PossibleCpus];
        Assert.True(map.TryLookupPerCpu(3u, values));
        Assert.All(values, v => Assert.Equal(0ul, v.packets));
        Assert.False(map.TryLookupPerCpu(4u, values)); // past the end of the array
    }

    internal static unsafe ps_flow_key Key(int i)
    {
        var k = new ps_flow_key { family = Conntrack.AF_INET, proto = 6, port_a = (ushort)(i % 60000 + 1), port_b = 443 };
        k.addr_a[0] = 10;
        k.addr_a[1] = (byte)(i >> 16);
        k.addr_a[2] = (byte)(i >> 8);
        k.addr_a[3] = (byte)i;
        k.addr_b[0] = 192;
        k.addr_b[3] = 1;
        return k;
    }
}
