// `packetscope --detach IFACE...`: removes the pinned datapath a node left behind (a crash, a down) and that no node
// will take over: its programs detach and its maps are freed.
using PacketScope.Native;

internal static class DetachCommand
{
    public static int Run(string[] interfaces)
    {
        var names = interfaces.Where(a => a.TrimStart('-') != "detach").ToList();
        if (names.Count == 0 || names.Any(n => n.StartsWith('-')))
        {
            Console.Error.WriteLine("packetscope: --detach needs interface names: packetscope --detach eth0 [eth1 ...] "
                + $"(pinned ones: ls {ConntrackProgram.PinRoot})");
            return 2;
        }
        if (!NetInterface.IsRoot)
        {
            Console.Error.WriteLine("packetscope: --detach removes pinned BPF programs: run it as root (sudo)");
            return 1;
        }
        var failed = false;
        foreach (var name in names)
        {
            try
            {
                var what = ConntrackProgram.RemovePins(name);
                Console.WriteLine(what is null
                    ? $"packetscope: nothing pinned for {name} ({ConntrackProgram.PinDirectory(name)} does not exist)"
                    : $"packetscope: {name}: removed {ConntrackProgram.PinDirectory(name)} ({what}): detached");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"packetscope: {name}: cannot remove {ConntrackProgram.PinDirectory(name)}: {e.Message}");
                failed = true;
            }
        }
        return failed ? 1 : 0;
    }
}
