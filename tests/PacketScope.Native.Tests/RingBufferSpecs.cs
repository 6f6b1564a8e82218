// Ring buffer bindings, exercised by a real program run through BPF_PROG_RUN.
using Xunit;

namespace PacketScope.Native.Tests;

public sealed class RingBufferSpecs
{
    [Fact]
    public void Should_deliver_what_the_program_wrote_to_the_ring_buffer()
    {
        using var obj = BpfObject.Open(Path.Combine(AppContext.BaseDirectory, "bpf", "test_ringbuf.bpf.o"));
        obj.Load();
        var records = new List<byte[]>();
        using var ring = new RingBuffer(obj.Map("ps_test_events"), r => records.Add(r.ToArray()));

        var frame = new byte[60];
        for (var i = 0; i < 12; i++)
            frame[i] = (byte)(0xA0 + i);
        Assert.Equal(2u, ProgramTestRun.RunXdp(obj.Program("ps_xdp_ringbuf"), frame, repeat: 3)); // XDP_PASS

        var consumed = ring.Poll(1000);
        Assert.Equal(3, consumed);
        Assert.Equal(3, records.Count);
        foreach (var r in records)
        {
            Assert.Equal(60, BitConverter.ToInt32(r, 0));
            Assert.Equal(frame[..12], r[4..16]);
        }
    }

    [Fact]
    public void Should_refuse_a_map_that_is_not_a_ring_buffer()
    {
        using var map = BpfMap.Create(BpfMapType.Hash, "ps_t_notring", 4, 4, 4);
        Assert.Throws<ArgumentException>(() => new RingBuffer(map, _ => { }));
    }
}
