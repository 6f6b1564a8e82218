// Undo actions for everything a benchmark sets up (veths, child processes): run in reverse order on
// normal exit, on an exception, and on SIGINT/SIGTERM/SIGHUP, so nothing is left behind.
using System.Runtime.InteropServices;

namespace PacketScope.Bench.Harness;

internal static class Cleanup
{
    private static readonly object s_lock = new();
    private static readonly List<Entry> s_entries = new();
    private static readonly List<PosixSignalRegistration> s_signals = new();

    private sealed class Entry(string what, Action undo) : IDisposable
    {
        private int _done;

        public string What { get; } = what;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0)
                return;
            lock (s_lock)
                s_entries.Remove(this);
            try
            {
                undo();
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"cleanup: {What}: {e.Message}");
            }
        }
    }

    /// <summary>Set once a signal asked us to stop: failures that follow (EINTR) are expected, not news.</summary>
    public static bool Stopping { get; private set; }

    /// <summary>Registers an undo action; disposing the token runs it (once) and forgets it.</summary>
    public static IDisposable Register(string what, Action undo)
    {
        var entry = new Entry(what, undo);
        lock (s_lock)
            s_entries.Add(entry);
        return entry;
    }

    /// <summary>Runs every pending undo action, newest first.</summary>
    public static void RunAll()
    {
        while (true)
        {
            Entry? last;
            lock (s_lock)
                last = s_entries.Count == 0 ? null : s_entries[^1];
            if (last is null)
                return;
            last.Dispose();
        }
    }

    public static void InstallHandlers()
    {
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP })
            s_signals.Add(PosixSignalRegistration.Create(signal, ctx =>
            {
                ctx.Cancel = true;
                Stopping = true;
                Console.Error.WriteLine($"bench: {ctx.Signal}, cleaning up");
                RunAll();
                Environment.Exit(128 + (ctx.Signal == PosixSignal.SIGINT ? 2 : ctx.Signal == PosixSignal.SIGTERM ? 15 : 1));
            }));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RunAll();
        AppDomain.CurrentDomain.UnhandledException += (_, _) => RunAll();
    }
}
