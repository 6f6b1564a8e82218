// The C# mirrors must match bpf/include/conntrack_shared.h and filter_shared.h byte for byte: compiled C tells the truth.
using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PacketScope.Native.Shared;
using Xunit;

namespace PacketScope.Native.Tests;

public sealed class SharedLayoutSpecs
{
    private static readonly Lazy<List<(string Struct, string Field, int Offset, int Size)>> s_layout = new(CompileAndRun);

    private static List<(string, string, int, int)> CompileAndRun()
    {
        var exe = Path.Combine(Path.GetTempPath(), $"ps-layout-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var source = Path.Combine(AppContext.BaseDirectory, "layout", "layout.c");
        var include = Path.Combine(RepoPaths.Root, "bpf", "include");
        Run("cc", $"-Wall -Werror -I{include} -o {exe} {source}");
        try
        {
            var output = Run(exe, "");
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split(' '))
                .Select(p => (p[0], p[1], unchecked((int)long.Parse(p[2])), int.Parse(p[3])))
                .ToList();
        }
        finally
        {
            File.Delete(exe);
        }
    }

    private static string Run(string file, string args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {args} failed: {stderr}");
        return stdout;
    }

    public static TheoryData<string> Structs => new()
    {
        nameof(ps_flow_key), nameof(ps_flow_side), nameof(ps_flow_value), nameof(ps_icmp_key),
        nameof(ps_icmp_value), nameof(ps_counter), nameof(ps_icmp_hist_key),
        nameof(ps_filter_active), nameof(ps_filter_gen), nameof(ps_filter_addr_key), nameof(ps_filter_mask),
        nameof(ps_filter_vec), nameof(ps_filter_rule), nameof(ps_filter_hit),
    };

    [Theory]
    [MemberData(nameof(Structs))]
    public void Should_match_the_C_header_in_size_and_every_field_offset(string name)
    {
        var type = typeof(ps_flow_key).Assembly.GetType($"PacketScope.Native.Shared.{name}")!;
        var c = s_layout.Value.Where(l => l.Struct == name).ToList();
        Assert.NotEmpty(c);

        var size = c.Single(l => l.Field == "-").Size;
        Assert.Equal(size, Marshal.SizeOf(type));
        Assert.Equal(size, (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!);

        foreach (var (_, field, offset, _) in c.Where(l => l.Field != "-"))
        {
            var f = type.GetField(field, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance);
            Assert.True(f is not null, $"{name}.{field} has no C# mirror");
            Assert.True(offset == (int)Marshal.OffsetOf(type, f!.Name), $"{name}.{field}: C offset {offset}, C# {Marshal.OffsetOf(type, f.Name)}");
        }
        // And no C# field the header does not have (padding that the header names _pad[N] aside).
        var named = c.Select(l => l.Field).ToHashSet();
        foreach (var f in type.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
            Assert.True(named.Contains(f.Name) || f.Name.StartsWith("_pad", StringComparison.Ordinal), $"{name}.{f.Name} is not in the C header");
    }

    [Fact]
    public void Should_share_the_constants_with_the_header()
    {
        int Const(string n) => s_layout.Value.Single(l => l.Struct == "enum" && l.Field == n).Offset;
        Assert.Equal((int)StatId.Max, Const("PS_STAT_MAX"));
        Assert.Equal((int)StatId.FlowMapFull, Const("PS_STAT_FLOW_MAP_FULL"));
        Assert.Equal((int)StatId.Pass, Const("PS_STAT_PASS"));
        Assert.Equal((int)StatId.IcmpNew, Const("PS_STAT_ICMP_NEW"));
        Assert.Equal((int)StatId.Drop, Const("PS_STAT_DROP"));
        Assert.Equal((int)StatId.Monitor, Const("PS_STAT_MONITOR"));
        Assert.Equal((int)FilterField.Max, Const("PS_FF_MAX"));
        Assert.Equal((int)FilterField.InnerDstPort, Const("PS_FF_INNER_DPORT"));
        Assert.Equal((int)FilterField.Protocol, Const("PS_FF_PROTO"));
        Assert.Equal((int)FilterVerdict.Monitor, Const("PS_FILTER_MONITOR"));
        Assert.Equal(FilterShared.MaxRules, Const("PS_FILTER_MAX_RULES"));
        Assert.Equal(FilterShared.VecsPerGen, Const("PS_FILTER_VECS_PER_GEN"));
        Assert.Equal(FilterShared.MaxLens, Const("PS_FILTER_MAX_LENS"));
        Assert.Equal(FilterShared.Single, unchecked((uint)Const("PS_FILTER_SINGLE")));
        Assert.Equal(FilterShared.Winner, unchecked((uint)Const("PS_FILTER_WINNER")));
        Assert.Equal(FilterShared.RuleMask, unchecked((uint)Const("PS_FILTER_RULE_MASK")));
        Assert.Equal(FilterShared.Deeper, unchecked((uint)Const("PS_FILTER_DEEPER")));
        Assert.Equal(FilterShared.Early4Keys, Const("PS_FILTER_EARLY4_KEYS"));
        Assert.Equal(Conntrack.HookMax, Const("PS_HOOK_MAX"));
        Assert.Equal((int)Conntrack.DefaultMaxFlows, Const("PS_DEFAULT_MAX_FLOWS"));
    }
}
