// Locates the repository root (for bpf/include) from the test's output directory.
namespace PacketScope.Native.Tests;

internal static class RepoPaths
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PacketScope.sln")))
                dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("PacketScope.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
