// Failures come back as BpfException with the errno, the operation and what to do.
using Microsoft.Extensions.Logging;
using Xunit;

namespace PacketScope.Native.Tests;

public sealed class BpfErrorSpecs
{
    [Fact]
    public void Should_say_what_to_do_when_the_object_file_is_missing()
    {
        var e = Assert.Throws<BpfException>(() => BpfObject.Open("/nonexistent/conntrack.bpf.o"));
        Assert.Equal(BpfException.ENOENT, e.Errno);
        Assert.Contains("/nonexistent/conntrack.bpf.o", e.Message);
        Assert.Contains("run `make`", e.Message);
    }

    [Fact]
    public void Should_reject_a_file_that_is_not_a_BPF_object_and_log_libbpf_s_reason()
    {
        var path = Path.Combine(Path.GetTempPath(), $"ps-not-bpf-{Guid.NewGuid():N}.o");
        File.WriteAllText(path, "not an ELF file");
        var logger = new ListLogger();
        Libbpf.SetLogger(logger);
        try
        {
            var e = Assert.Throws<BpfException>(() => BpfObject.Open(path));
            Assert.StartsWith($"open BPF object {path}", e.Message);
            Assert.NotEqual(0, e.Errno);
            Assert.Contains(logger.Lines, l => l.Contains("libbpf:"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Should_name_the_missing_program()
    {
        using var obj = BpfObject.Open(Path.Combine(AppContext.BaseDirectory, "bpf", "test_xdp_pass.bpf.o"));
        var e = Assert.Throws<BpfException>(() => obj.Program("no_such_program"));
        Assert.Contains("no_such_program", e.Message);
    }

    [Fact]
    public void Should_refuse_an_XDP_attach_to_a_missing_interface()
    {
        using var obj = BpfObject.Open(Path.Combine(AppContext.BaseDirectory, "bpf", "test_xdp_pass.bpf.o"));
        obj.Load();
        var e = Assert.Throws<BpfException>(() => obj.Program("ps_xdp_pass").AttachXdp("ghost0", 999_999, XdpMode.Auto));
        Assert.Contains("attach XDP program ps_xdp_pass to ghost0", e.Message);
    }

    [Fact]
    public void Should_convert_monotonic_kernel_time_to_wall_clock()
    {
        var now = MonotonicClock.NowNs();
        var wall = MonotonicClock.ToWallClock(now, MonotonicClock.RealtimeOffsetNs());
        Assert.InRange((DateTimeOffset.UtcNow - wall).TotalMilliseconds, -50, 50);
        var earlier = MonotonicClock.ToWallClock(now - 5_000_000_000, MonotonicClock.RealtimeOffsetNs());
        Assert.InRange((wall - earlier).TotalSeconds, 4.99, 5.01);
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
                Lines.Add(formatter(state, exception));
        }
    }
}
