// Akka's entry to our wire format: every IPacketScopeMessage, between nodes and in the journal, goes through here.
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;

// Not PacketScope.Actors.Cluster: a namespace of that name would hide Akka's Cluster class from all of PacketScope.Actors.*.
namespace PacketScope.Actors.Wire;

/// <summary>
/// A compact, versioned binary serializer for every <see cref="PacketScope.Messages.IPacketScopeMessage"/>. The manifest
/// is a short stable string per type (never the CLR name), the payload a format-version byte then the fields;
/// the format and how it evolves are described in MessageCodec.cs.
/// </summary>
public sealed class PacketScopeSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int SerializerId = 4711;

    /// <summary>
    /// Registers the serializer and binds the marker interface to it. The identifier comes from
    /// <see cref="Identifier"/>, so no <c>serialization-identifiers</c> entry is needed.
    /// </summary>
    public const string Hocon = """
        akka.actor {
          serializers.packetscope = "PacketScope.Actors.Wire.PacketScopeSerializer, PacketScope.Actors"
          serialization-bindings { "PacketScope.Messages.IPacketScopeMessage, PacketScope.Messages" = packetscope }
        }
        """;

    /// <summary>Every manifest and the type it stands for, grouped by the file that declares the type.</summary>
    public static IReadOnlyList<(string Manifest, Type Type)> Manifests { get; } = MessageCodec.All.Select(e => (e.Manifest, e.Type)).ToArray();

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => Codec(o).Manifest;

    public override byte[] ToBinary(object obj)
    {
        var codec = Codec(obj);
        using var stream = new MemoryStream(256);
        stream.WriteByte(MessageCodec.Version);
        var writer = new CodecWriter(stream);
        try
        {
            codec.Write(writer, obj);
        }
        catch (Exception e) when (e is NullReferenceException or ArgumentNullException)
        {
            throw new SerializationException($"cannot write PacketScope message '{codec.Manifest}' ({obj.GetType().Name}): a field that may not be null is null", e);
        }
        writer.Flush();
        return stream.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!MessageCodec.ByManifest.TryGetValue(manifest, out var codec))
            throw new SerializationException($"unknown PacketScope message manifest '{manifest}' (payload of {bytes.Length} bytes): sent by a newer node?");
        if (bytes.Length == 0)
            throw new SerializationException($"empty payload for PacketScope message '{manifest}': no format version");
        var version = bytes[0];
        if (version is 0 or > MessageCodec.Version)
            throw new SerializationException(
                $"PacketScope message '{manifest}' has format version {version}; this node reads versions 1 to {MessageCodec.Version}");

        using var stream = new MemoryStream(bytes, 1, bytes.Length - 1, writable: false);
        var reader = new CodecReader(stream, version);
        try
        {
            var message = codec.Read(reader);
            return reader.Remaining == 0 ? message : throw new InvalidDataException($"{reader.Remaining} bytes left over");
        }
        catch (Exception e) when (e is IOException or InvalidDataException or FormatException or ArgumentException or InvalidCastException)
        {
            throw new SerializationException($"cannot read PacketScope message '{manifest}' (format version {version}): {e.Message}", e);
        }
    }

    private static MessageCodec.Entry Codec(object message) =>
        MessageCodec.ByType.TryGetValue(message.GetType(), out var codec)
            ? codec
            : throw new SerializationException($"{message.GetType().FullName} has no PacketScope wire format: give it a manifest and a write/read pair in MessageCodec");
}
