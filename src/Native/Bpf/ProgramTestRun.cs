// Runs a loaded program through BPF_PROG_RUN: once on a packet (tests) or as a live-frame XDP sender (benchmarks).
namespace PacketScope.Native;

public static unsafe class ProgramTestRun
{
    /// <summary>Runs an XDP program once on <paramref name="frame"/>; returns the program's verdict.</summary>
    public static uint RunXdp(BpfProgram program, ReadOnlySpan<byte> frame, int repeat = 1) => RunXdpTimed(program, frame, repeat).Verdict;

    /// <summary>Runs an XDP program <paramref name="repeat"/> times on <paramref name="frame"/>: its verdict and the kernel's mean ns per run.</summary>
    public static (uint Verdict, uint DurationNs) RunXdpTimed(BpfProgram program, ReadOnlySpan<byte> frame, int repeat)
    {
        fixed (byte* data = frame)
        {
            var opts = new Interop.Libbpf.bpf_test_run_opts
            {
                sz = (nuint)sizeof(Interop.Libbpf.bpf_test_run_opts),
                data_in = data,
                data_size_in = (uint)frame.Length,
                repeat = repeat,
            };
            BpfException.ThrowIfNegative(Interop.Libbpf.bpf_prog_test_run_opts(program.Fd, &opts), $"test run of {program.Name}");
            return (opts.retval, opts.duration);
        }
    }

    /// <summary>
    /// Sends <paramref name="frame"/> <paramref name="count"/> times out of <paramref name="ifindex"/> with an XDP_TX program
    /// (BPF_F_TEST_XDP_LIVE_FRAMES): the frames really leave the interface, at several Mpps on a veth.
    /// </summary>
    public static void SendLiveFrames(BpfProgram xdpTx, int ifindex, ReadOnlySpan<byte> frame, int count, uint batchSize = 64)
    {
        var ctx = new Interop.Libbpf.xdp_md { data_end = (uint)frame.Length, ingress_ifindex = (uint)ifindex };
        fixed (byte* data = frame)
        {
            var opts = new Interop.Libbpf.bpf_test_run_opts
            {
                sz = (nuint)sizeof(Interop.Libbpf.bpf_test_run_opts),
                data_in = data,
                data_size_in = (uint)frame.Length,
                ctx_in = &ctx,
                ctx_size_in = (uint)sizeof(Interop.Libbpf.xdp_md),
                repeat = count,
                flags = Interop.Libbpf.BPF_F_TEST_XDP_LIVE_FRAMES,
                batch_size = batchSize,
            };
            BpfException.ThrowIfNegative(Interop.Libbpf.bpf_prog_test_run_opts(xdpTx.Fd, &opts), $"send live frames with {xdpTx.Name}");
        }
    }
}
