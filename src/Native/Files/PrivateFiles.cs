// Files only this node's user may read: the process's creation mask, and a directory whose files are tightened to 0600.
namespace PacketScope.Native;

public static class PrivateFiles
{
    public const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode Directory = File | UnixFileMode.UserExecute;

    private const UnixFileMode Others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>From now on every file this process creates is 0600 and every directory 0700 (umask 077), whoever creates it
    /// (SQLite's journal and its -wal/-shm, a snapshot, a pin).</summary>
    public static void CreateFromNowOn()
    {
        if (OperatingSystem.IsLinux())
            Interop.Libc.umask(0b000_111_111);
    }

    /// <summary>
    /// Creates <paramref name="path"/> 0700, or tightens the regular files directly in it that others may use to 0600
    /// (a state directory of an older version). Returns the files it tightened. <paramref name="except"/>: files with their
    /// own check (the API token, which others may already have read: its owner must replace it, not have it fixed quietly).
    /// </summary>
    public static IReadOnlyList<string> PrepareDirectory(string path, params string[] except)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("PacketScope runs on Linux");
        if (!System.IO.Directory.Exists(path))
        {
            System.IO.Directory.CreateDirectory(path, Directory);
            return [];
        }
        var tightened = new List<string>();
        foreach (var file in new DirectoryInfo(path).EnumerateFiles())
        {
            if (file.LinkTarget is not null || except.Contains(file.Name) || (file.UnixFileMode & Others) == 0)
                continue;
            file.UnixFileMode &= ~Others;
            tightened.Add(file.FullName);
        }
        return tightened;
    }

    /// <summary>Whether others (group, world) may read, write or enter <paramref name="path"/>.</summary>
    public static bool OthersMayUse(string path) => OperatingSystem.IsLinux() && (System.IO.File.GetUnixFileMode(path) & Others) != 0;
}
