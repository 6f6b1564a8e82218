// The rule set this node last had, on its own disk (DATA/rules-last-known): a node that restarts while the rule store
// is out of reach (the seed down, a partition) enforces and serves it, marked stale, instead of starting empty-handed.
using Akka.Serialization;
using PacketScope.Messages;

namespace PacketScope.Actors.Guard;

public sealed class LastKnownRules(string path, Serialization serialization)
{
    public const string FileName = "rules-last-known";
    private static readonly byte[] s_magic = "PSRULES1"u8.ToArray();

    public string Path { get; } = path;

    private SerializerWithStringManifest Serializer =>
        (SerializerWithStringManifest)serialization.FindSerializerForType(typeof(FilterRuleSetChanged));

    /// <summary>The set last saved, or null when there is none; a file that cannot be read is reported in problem.</summary>
    public FilterRuleSetChanged? Load(out string? problem)
    {
        problem = null;
        if (!File.Exists(Path))
            return null;
        try
        {
            var bytes = File.ReadAllBytes(Path);
            if (bytes.Length < s_magic.Length + 1 || !bytes.AsSpan(0, s_magic.Length).SequenceEqual(s_magic))
                throw new InvalidDataException("not a PacketScope rule-set file");
            var manifestLength = bytes[s_magic.Length];
            var manifest = System.Text.Encoding.ASCII.GetString(bytes, s_magic.Length + 1, manifestLength);
            var payload = bytes[(s_magic.Length + 1 + manifestLength)..];
            return Serializer.FromBinary(payload, manifest) as FilterRuleSetChanged
                ?? throw new InvalidDataException($"holds a {manifest}, not a rule set");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or System.Runtime.Serialization.SerializationException
                                      or ArgumentException or IndexOutOfRangeException)
        {
            problem = $"{Path} cannot be read ({e.Message}); starting without the last known rule set";
            return null;
        }
    }

    /// <summary>Writes the set atomically (a whole new file renamed over the old, synced): a crash or a full disk leaves the old one.</summary>
    public void Save(FilterRuleSetChanged set)
    {
        var serializer = Serializer;
        var manifest = System.Text.Encoding.ASCII.GetBytes(serializer.Manifest(set));
        var payload = serializer.ToBinary(set);
        var temp = Path + ".tmp";
        try
        {
#pragma warning disable CA1416 // the node runs on Linux only: created 0600 from the start, like api-token
            using (var file = new FileStream(temp, new FileStreamOptions
                   {
                       Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                   }))
#pragma warning restore CA1416
            {
                file.Write(s_magic);
                file.WriteByte((byte)manifest.Length);
                file.Write(manifest);
                file.Write(payload);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, Path, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
            }
            throw;
        }
    }
}
