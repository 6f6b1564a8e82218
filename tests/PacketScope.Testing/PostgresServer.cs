// A real PostgreSQL server (Debian's package) for one test class: a fresh cluster in a temporary
// directory, on a free loopback port, run as the postgres user (initdb and postgres refuse root),
// stopped and deleted on Dispose. Each test asks it for a database of its own.

namespace PacketScope.Testing;

public sealed class PostgresServer : IDisposable
{
    private readonly string _dir;
    private readonly string _bin;
    private bool _started;

    public int Port { get; }

    public PostgresServer()
    {
        _bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault() ?? ""
            : "";
        if (_bin.Length == 0)
            throw new InvalidOperationException("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): `make test` installs it (apt-get install postgresql)");
        _dir = Path.Combine(Path.GetTempPath(), $"ps-pg-{Guid.NewGuid():N}");
        Port = Ports.Free();
        try
        {
            Directory.CreateDirectory(_dir);
            Shell.Run("chown", "postgres:postgres", _dir);
            AsPostgres(TimeSpan.FromSeconds(60), "initdb", "-D", _dir, "-A", "trust", "-U", "postgres", "--no-sync");
            AsPostgres(TimeSpan.FromSeconds(60), "pg_ctl", "-D", _dir, "-l", Path.Combine(_dir, "server.log"), "-w", "-o",
                $"-p {Port} -k {_dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start");
            _started = true;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private string AsPostgres(TimeSpan timeout, string tool, params string[] args) =>
        Shell.RunWithin(timeout, "runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. args]);

    /// <summary>Creates an empty database; returns its connection string.</summary>
    public string CreateDatabase()
    {
        var name = $"ps_{Guid.NewGuid():N}";
        AsPostgres(TimeSpan.FromSeconds(30), "createdb", "-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", name);
        return $"Host=127.0.0.1;Port={Port};Database={name};Username=postgres";
    }

    /// <summary>Runs one SQL statement in a database with psql; its output, unaligned and without headers.</summary>
    public string Query(string connectionString, string sql)
    {
        var database = connectionString.Split(';').Single(p => p.StartsWith("Database=", StringComparison.Ordinal))["Database=".Length..];
        return AsPostgres(TimeSpan.FromSeconds(30), "psql", "-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres",
            "-d", database, "-At", "-c", sql);
    }

    public void Dispose()
    {
        // Also when the start timed out after the postmaster forked: its pid file says it may run.
        if (_started || File.Exists(Path.Combine(_dir, "postmaster.pid")))
            Shell.TryRunWithin(TimeSpan.FromSeconds(30), "runuser", "-u", "postgres", "--", Path.Combine(_bin, "pg_ctl"), "-D", _dir, "-m", "immediate", "stop");
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }
}
