// The bearer token for state-changing requests: configured, or generated once and kept under --data.
using System.Security.Cryptography;
using System.Text;

namespace PacketScope.Web.Hosting;

public sealed class ApiToken
{
    public const string FileName = "api-token";

    private readonly byte[] _token;

    private ApiToken(string token) => _token = Encoding.UTF8.GetBytes(token);

    /// <summary>
    /// The configured token, else the one kept in <paramref name="dataDirectory"/>, else a new one written
    /// there (mode 0600). <paramref name="generated"/> is the new token, to be shown once; null otherwise.
    /// </summary>
    public static ApiToken Load(string dataDirectory, string? configured, out string? generated)
    {
        generated = null;
        if (!string.IsNullOrWhiteSpace(configured))
        {
            if (configured.Trim().Length < 16)
                throw new OptionsException("api-token", "is shorter than 16 characters; use a long random string");
            return new ApiToken(configured.Trim());
        }
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("PacketScope runs on Linux");
        var path = Path.Combine(dataDirectory, FileName);
        if (File.Exists(path))
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
                throw new OptionsException("api-token", $"{path} can be read or written by others; run `chmod 600 {path}` (or delete it for a new token)");
            var kept = File.ReadAllText(path).Trim();
            if (kept.Length >= 16)
                return new ApiToken(kept);
            File.Delete(path); // too short to be ours: replace it, created 0600 below
        }
        generated = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        // Created 0600 from the start: never readable by others, not even for a moment.
        using (var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        using (var writer = new StreamWriter(file))
            writer.Write(generated + "\n");
        return new ApiToken(generated);
    }

    /// <summary>Checks an Authorization header value ("Bearer TOKEN") in constant time.</summary>
    public bool Accepts(string? authorization)
    {
        const string prefix = "Bearer ";
        if (authorization is null || !authorization.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            return false;
        var given = Encoding.UTF8.GetBytes(authorization[prefix.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(given, _token);
    }
}
