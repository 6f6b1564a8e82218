// The wire format of every IPacketScopeMessage: one stable manifest and one hand-written write/read pair per type.
//
// A payload is one format-version byte, then the message's fields in declaration order:
//   int/long: zigzag 7-bit varint; uint/ulong: 7-bit varint; byte: 1 byte; bool: 1 byte (0 or 1);
//   double: 8 bytes; TCP seq/ack: 4 bytes (random, so a varint would only grow them);
//   string: 7-bit byte length + UTF-8; DateTimeOffset: UTC ticks (8 bytes) + offset minutes (varint);
//   enum: its int value as a varint; nullable value or record: a presence byte (0/1), then the value;
//   list: a count, then the items; dictionary: a count, then key/value pairs.
//
// Evolving it (the journal holds version 1 events for good, so a reader must always read every older version):
//   - a new message type: a new manifest; the version does not change.
//   - a new field: raise Version to 2, write the field after the record's version 1 fields, and read it with
//     `r.Version >= 2 ? r.Int() : default`. A nested record reads by the version of the payload it sits in.
//   - never reorder, retype or drop a field: one no longer used is still written (as a default) and read.
//   - a newer payload is refused (its fields cannot be skipped safely), so in a rolling upgrade every node must
//     read version N before any node writes it: ship the reader first, raise Version in the next release.
//   - a manifest is never reused nor renamed; a class may be renamed freely.
using System.Collections.Frozen;
using System.Text;
using PacketScope.Actors.Guard;
using PacketScope.Messages;

namespace PacketScope.Actors.Wire; // not ...Cluster: see PacketScopeSerializer.cs

internal static class MessageCodec
{
    /// <summary>The format version this node writes, and the newest it reads.</summary>
    /// <remarks>2: FilterRuleSpec.Provenance (the seed's AI fields), after ExpiresAt; InterfaceStats.XdpMode.</remarks>
    public const byte Version = 2;

    internal sealed record Entry(string Manifest, Type Type, Action<CodecWriter, object> Write, Func<CodecReader, object> Read);

    private static Entry Of<T>(string manifest, Action<CodecWriter, T> write, Func<CodecReader, T> read) where T : class, IPacketScopeMessage =>
        new(manifest, typeof(T), (w, m) => write(w, (T)m), r => read(r));

    private static Entry Singleton<T>(string manifest, T instance) where T : class, IPacketScopeMessage =>
        new(manifest, typeof(T), (_, _) => { }, _ => instance);

    public static readonly IReadOnlyList<Entry> All =
    [
        // src/Messages/Filters.cs
        Of<FilterRule>("fr", WriteRule, ReadRule),
        Of<AddFilter>("fadd", (w, m) => WriteSpec(w, m.Spec), r => new AddFilter(ReadSpec(r))),
        Of<UpdateFilter>("fupd",
            (w, m) => { w.Int(m.Id); WriteSpec(w, m.Spec); w.NullableTime(m.IfUpdatedAt); },
            r => new UpdateFilter(Id: r.Int(), Spec: ReadSpec(r), IfUpdatedAt: r.NullableTime())),
        Of<RemoveFilter>("frm", (w, m) => w.Int(m.Id), r => new RemoveFilter(r.Int())),
        Of<SetFilterEnabled>("fen",
            (w, m) => { w.Int(m.Id); w.Bool(m.Enabled); },
            r => new SetFilterEnabled(Id: r.Int(), Enabled: r.Bool())),
        Singleton("fget", GetFilters.Instance),
        Of<GetFiltersSince>("fsince", (w, m) => w.Long(m.Version), r => new GetFiltersSince(r.Long())),
        Of<FiltersUpToDate>("fcur", (w, m) => w.Long(m.Version), r => new FiltersUpToDate(r.Long())),
        Of<FiltersResponse>("fres",
            (w, m) => { w.Long(m.Version); w.List(m.Rules, WriteRule); w.Int(m.NextId); },
            r => new FiltersResponse(Version: r.Long(), Rules: r.List(ReadRule), NextId: r.Int())),
        Of<FilterCommandResult>("fcr",
            (w, m) =>
            {
                w.Bool(m.Ok); w.Optional(m.Rule, WriteRule); w.Long(m.Version); w.NullableString(m.Error); w.NullableString(m.Field);
                w.Bool(m.NotFound); w.Bool(m.Stale);
            },
            r => new FilterCommandResult(Ok: r.Bool(), Rule: r.Optional(ReadRule), Version: r.Long(), Error: r.NullableString(),
                Field: r.NullableString(), NotFound: r.Bool(), Stale: r.Bool())),
        Of<FilterRuleSetChanged>("fset",
            (w, m) => { w.Long(m.Version); w.List(m.Rules, WriteRule); w.Int(m.NextId); },
            r => new FilterRuleSetChanged(Version: r.Long(), Rules: r.List(ReadRule), NextId: r.Int())),
        Of<FilterRuleSetAdvanced>("fadv", (w, m) => w.Long(m.Version), r => new FilterRuleSetAdvanced(r.Long())),

        // src/Messages/Cluster.cs
        Singleton("rsget", GetHeldRuleSet.Instance),
        Singleton("niget", GetNodeInfo.Instance),
        Of<NodeInfo>("ni",
            (w, m) =>
            {
                w.String(m.Node); w.String(m.Address); w.List(m.Roles, static (w, s) => w.String(s)); w.Bool(m.Ready);
                w.List(m.Interfaces, WriteInterfaceStatus); w.String(m.Version); w.Long(m.RuleSetVersion); w.Time(m.StartedAt);
            },
            r => new NodeInfo(Node: r.String(), Address: r.String(), Roles: r.List(static r => r.String()), Ready: r.Bool(),
                Interfaces: r.List(ReadInterfaceStatus), Version: r.String(), RuleSetVersion: r.Long(), StartedAt: r.Time())),

        // src/Messages/Flows.cs
        Of<GetConnections>("cget", (w, m) => WriteConnectionQuery(w, m.Query), r => new GetConnections(ReadConnectionQuery(r))),
        Of<ConnectionsResponse>("cres",
            (w, m) => { w.Long(m.Total); w.List(m.Connections, WriteFlow); },
            r => new ConnectionsResponse(Total: r.Long(), Connections: r.List(ReadFlow))),

        // src/Messages/Icmp.cs
        Of<GetIcmp>("iget", (w, m) => WriteIcmpQuery(w, m.Query), r => new GetIcmp(ReadIcmpQuery(r))),
        Of<IcmpResponse>("ires",
            (w, m) => { w.Long(m.Total); w.List(m.Messages, WriteIcmp); },
            r => new IcmpResponse(Total: r.Long(), Messages: r.List(ReadIcmp))),

        // src/Messages/Stats.cs
        Singleton("sget", GetStats.Instance),
        Of<StatsResponse>("sres",
            (w, m) => { w.String(m.Node); w.Time(m.Timestamp); w.List(m.Interfaces, WriteInterfaceStats); },
            r => new StatsResponse(Node: r.String(), Timestamp: r.Time(), Interfaces: r.List(ReadInterfaceStats))),
        Singleton("nsget", GetNodeStatus.Instance),
        Of<NodeStatus>("ns",
            (w, m) => { w.String(m.Node); w.Bool(m.Ready); w.List(m.Interfaces, WriteInterfaceStatus); },
            r => new NodeStatus(Node: r.String(), Ready: r.Bool(), Interfaces: r.List(ReadInterfaceStatus))),

        // src/Actors/Guard/FilterEvents.cs: persisted in the journal, so these formats live as long as it does.
        Of<FilterAdded>("fe.add", (w, m) => WriteRule(w, m.Rule), r => new FilterAdded(ReadRule(r))),
        Of<FilterUpdated>("fe.upd", (w, m) => WriteRule(w, m.Rule), r => new FilterUpdated(ReadRule(r))),
        Of<FilterRemoved>("fe.rm",
            (w, m) => { w.Int(m.Id); w.Time(m.At); },
            r => new FilterRemoved(Id: r.Int(), At: r.Time())),
        Of<FilterExpired>("fe.exp",
            (w, m) => { w.Int(m.Id); w.Time(m.At); },
            r => new FilterExpired(Id: r.Int(), At: r.Time())),
        Of<FilterRuleSetAdopted>("fe.adopt",
            (w, m) => { w.Long(m.Version); w.List(m.Rules, WriteRule); w.Int(m.NextId); w.String(m.From); w.Time(m.At); },
            r => new FilterRuleSetAdopted(Version: r.Long(), Rules: r.List(ReadRule), NextId: r.Int(), From: r.String(), At: r.Time())),
    ];

    public static readonly FrozenDictionary<string, Entry> ByManifest = All.ToFrozenDictionary(e => e.Manifest, StringComparer.Ordinal);

    public static readonly FrozenDictionary<Type, Entry> ByType = All.ToFrozenDictionary(e => e.Type);

    // ---- src/Messages/Filters.cs

    private static void WriteAddress(CodecWriter w, AddressMatch a)
    {
        w.String(a.Network); w.Int(a.PrefixLength); w.Bool(a.IsIpv6);
    }

    private static AddressMatch ReadAddress(CodecReader r) => new(Network: r.String(), PrefixLength: r.Int(), IsIpv6: r.Bool());

    private static void WritePorts(CodecWriter w, PortRange p)
    {
        w.Int(p.From); w.Int(p.To);
    }

    private static PortRange ReadPorts(CodecReader r) => new(From: r.Int(), To: r.Int());

    private static void WriteSpec(CodecWriter w, FilterRuleSpec s)
    {
        w.Int((int)s.RuleType); w.Byte(s.Protocol);
        w.Optional(s.SrcIp, WriteAddress); w.Optional(s.DstIp, WriteAddress); w.Optional(s.SrcPort, WritePorts); w.Optional(s.DstPort, WritePorts);
        w.Byte(s.TcpFlags); w.Byte(s.TcpFlagsMask); w.NullableByte(s.IcmpType); w.NullableByte(s.IcmpCode);
        w.Optional(s.InnerSrcIp, WriteAddress); w.Optional(s.InnerDstIp, WriteAddress); w.NullableByte(s.InnerProtocol);
        w.Optional(s.InnerSrcPort, WritePorts); w.Optional(s.InnerDstPort, WritePorts);
        w.Int((int)s.Action); w.Bool(s.Enabled); w.String(s.Comment); w.NullableInt(s.Priority); w.NullableTime(s.ExpiresAt);
        w.Optional(s.Provenance, WriteProvenance); // version 2
    }

    private static void WriteProvenance(CodecWriter w, FilterProvenance p)
    {
        w.Bool(p.AiGenerated); w.Bool(p.AiConfidence.HasValue);
        if (p.AiConfidence is { } c) w.Double(c);
        w.NullableString(p.AiReason);
    }

    private static FilterProvenance ReadProvenance(CodecReader r) =>
        new(AiGenerated: r.Bool(), AiConfidence: r.Bool() ? r.Double() : (double?)null, AiReason: r.NullableString());

    private static FilterRuleSpec ReadSpec(CodecReader r) => new(
        RuleType: r.Enum<FilterRuleType>(), Protocol: r.Byte(),
        SrcIp: r.Optional(ReadAddress), DstIp: r.Optional(ReadAddress), SrcPort: r.Optional(ReadPorts), DstPort: r.Optional(ReadPorts),
        TcpFlags: r.Byte(), TcpFlagsMask: r.Byte(), IcmpType: r.NullableByte(), IcmpCode: r.NullableByte(),
        InnerSrcIp: r.Optional(ReadAddress), InnerDstIp: r.Optional(ReadAddress), InnerProtocol: r.NullableByte(),
        InnerSrcPort: r.Optional(ReadPorts), InnerDstPort: r.Optional(ReadPorts),
        Action: r.Enum<FilterAction>(), Enabled: r.Bool(), Comment: r.String(), Priority: r.NullableInt(), ExpiresAt: r.NullableTime(),
        Provenance: r.Version >= 2 ? r.Optional(ReadProvenance) : null);

    private static void WriteRule(CodecWriter w, FilterRule rule)
    {
        w.Int(rule.Id); w.Int(rule.Priority); WriteSpec(w, rule.Spec); w.Time(rule.CreatedAt); w.Time(rule.UpdatedAt);
    }

    private static FilterRule ReadRule(CodecReader r) =>
        new(Id: r.Int(), Priority: r.Int(), Spec: ReadSpec(r), CreatedAt: r.Time(), UpdatedAt: r.Time());

    // ---- src/Messages/Flows.cs

    private static void WriteConnectionQuery(CodecWriter w, ConnectionQuery q)
    {
        w.Int(q.Limit); w.Int((int)q.Sort); w.NullableString(q.Address); w.NullableInt(q.Port); w.NullableByte(q.Protocol);
        w.NullableString(q.Interface); w.NullableString(q.State);
        w.Int(q.Offset);
    }

    private static ConnectionQuery ReadConnectionQuery(CodecReader r) => new(
        Limit: r.Int(), Sort: r.Enum<ConnectionSort>(), Address: r.NullableString(), Port: r.NullableInt(), Protocol: r.NullableByte(),
        Interface: r.NullableString(), State: r.NullableString(), Offset: r.Int());

    private static void WriteDirection(CodecWriter w, FlowDirection d)
    {
        w.ULong(d.Packets); w.ULong(d.Bytes); w.ULong(d.PayloadBytes); w.ULong(d.DataBytes);
        w.Int(d.TcpFlags); w.List(d.TcpFlagNames, static (w, s) => w.String(s));
        w.FixedUInt(d.Seq); w.FixedUInt(d.Ack); w.Int(d.Window); w.Int(d.IpId); w.Int(d.Ttl);
        w.UInt(d.Retransmits); w.UInt(d.OutOfOrder); w.UInt(d.DupAcks); w.UInt(d.ZeroWindows);
    }

    private static FlowDirection ReadDirection(CodecReader r) => new(
        Packets: r.ULong(), Bytes: r.ULong(), PayloadBytes: r.ULong(), DataBytes: r.ULong(),
        TcpFlags: r.Int(), TcpFlagNames: r.List(static r => r.String()),
        Seq: r.FixedUInt(), Ack: r.FixedUInt(), Window: r.Int(), IpId: r.Int(), Ttl: r.Int(),
        Retransmits: r.UInt(), OutOfOrder: r.UInt(), DupAcks: r.UInt(), ZeroWindows: r.UInt());

    private static void WriteFlow(CodecWriter w, FlowRecord f)
    {
        w.String(f.Node); w.String(f.Interface); w.String(f.Protocol); w.String(f.Family); w.Int(f.VlanId);
        w.String(f.Src); w.Int(f.SrcPort); w.String(f.Dst); w.Int(f.DstPort); w.String(f.State);
        WriteDirection(w, f.Orig); WriteDirection(w, f.Reply); w.ULong(f.Packets); w.ULong(f.Bytes);
        w.Time(f.FirstSeen); w.Time(f.LastSeen); w.Double(f.PacketsPerSecond); w.Double(f.BytesPerSecond); w.String(f.Key); w.String(f.Info);
    }

    private static FlowRecord ReadFlow(CodecReader r) => new(
        Node: r.String(), Interface: r.String(), Protocol: r.String(), Family: r.String(), VlanId: r.Int(),
        Src: r.String(), SrcPort: r.Int(), Dst: r.String(), DstPort: r.Int(), State: r.String(),
        Orig: ReadDirection(r), Reply: ReadDirection(r), Packets: r.ULong(), Bytes: r.ULong(),
        FirstSeen: r.Time(), LastSeen: r.Time(), PacketsPerSecond: r.Double(), BytesPerSecond: r.Double(), Key: r.String(), Info: r.String());

    // ---- src/Messages/Icmp.cs

    private static void WriteIcmpQuery(CodecWriter w, IcmpQuery q)
    {
        w.Int(q.Limit); w.NullableString(q.Address); w.NullableInt(q.Type); w.NullableString(q.Interface); w.NullableString(q.Family);
    }

    private static IcmpQuery ReadIcmpQuery(CodecReader r) =>
        new(Limit: r.Int(), Address: r.NullableString(), Type: r.NullableInt(), Interface: r.NullableString(), Family: r.NullableString());

    private static void WriteInner(CodecWriter w, IcmpInnerPacket p)
    {
        w.String(p.Protocol); w.String(p.Src); w.Int(p.SrcPort); w.String(p.Dst); w.Int(p.DstPort);
    }

    private static IcmpInnerPacket ReadInner(CodecReader r) =>
        new(Protocol: r.String(), Src: r.String(), SrcPort: r.Int(), Dst: r.String(), DstPort: r.Int());

    private static void WriteIcmp(CodecWriter w, IcmpRecord m)
    {
        w.String(m.Node); w.String(m.Interface); w.String(m.Direction); w.String(m.Family); w.Int(m.Type); w.Int(m.Code);
        w.String(m.TypeName); w.Bool(m.IsError); w.String(m.Src); w.String(m.Dst); w.Int(m.VlanId); w.ULong(m.Packets); w.ULong(m.Bytes);
        w.Double(m.PacketsPerSecond); w.Time(m.FirstSeen); w.Time(m.LastSeen); w.NullableInt(m.EchoId); w.NullableInt(m.EchoSeq);
        w.Optional(m.Inner, WriteInner); w.String(m.Key); w.String(m.Info);
    }

    private static IcmpRecord ReadIcmp(CodecReader r) => new(
        Node: r.String(), Interface: r.String(), Direction: r.String(), Family: r.String(), Type: r.Int(), Code: r.Int(),
        TypeName: r.String(), IsError: r.Bool(), Src: r.String(), Dst: r.String(), VlanId: r.Int(), Packets: r.ULong(), Bytes: r.ULong(),
        PacketsPerSecond: r.Double(), FirstSeen: r.Time(), LastSeen: r.Time(), EchoId: r.NullableInt(), EchoSeq: r.NullableInt(),
        Inner: r.Optional(ReadInner), Key: r.String(), Info: r.String());

    // ---- src/Messages/Stats.cs

    private static void WriteCounter(CodecWriter w, Counter c)
    {
        w.ULong(c.Packets); w.ULong(c.Bytes); w.Double(c.PacketsPerSecond); w.Double(c.BytesPerSecond);
    }

    private static Counter ReadCounter(CodecReader r) =>
        new(Packets: r.ULong(), Bytes: r.ULong(), PacketsPerSecond: r.Double(), BytesPerSecond: r.Double());

    private static void WriteIcmpTypeCount(CodecWriter w, IcmpTypeCount c)
    {
        w.String(c.Family); w.String(c.Direction); w.Int(c.Type); w.Int(c.Code); w.String(c.TypeName); w.ULong(c.Packets); w.ULong(c.Bytes);
    }

    private static IcmpTypeCount ReadIcmpTypeCount(CodecReader r) => new(
        Family: r.String(), Direction: r.String(), Type: r.Int(), Code: r.Int(), TypeName: r.String(), Packets: r.ULong(), Bytes: r.ULong());

    private static void WriteInterfaceStats(CodecWriter w, InterfaceStats s)
    {
        w.String(s.Interface); w.Time(s.UpdatedAt); w.Map(s.Ingress, WriteCounter); w.Map(s.Egress, WriteCounter);
        w.List(s.IcmpTypes, WriteIcmpTypeCount);
        w.Long(s.Flows.Active); w.ULong(s.Flows.Created); w.ULong(s.Flows.Expired); w.UInt(s.Flows.Capacity);
        w.ULong(s.Losses.FlowMapFull); w.ULong(s.Losses.IcmpMapFull); w.ULong(s.Losses.HistogramFull); w.ULong(s.Losses.FlowsEvicted);
        w.NullableString(s.XdpMode); // version 2
    }

    private static InterfaceStats ReadInterfaceStats(CodecReader r) => new(
        Interface: r.String(), UpdatedAt: r.Time(), Ingress: r.Map(ReadCounter), Egress: r.Map(ReadCounter),
        IcmpTypes: r.List(ReadIcmpTypeCount),
        Flows: new FlowTableStats(Active: r.Long(), Created: r.ULong(), Expired: r.ULong(), Capacity: r.UInt()),
        Losses: new TelemetryLosses(FlowMapFull: r.ULong(), IcmpMapFull: r.ULong(), HistogramFull: r.ULong(), FlowsEvicted: r.ULong()),
        XdpMode: r.Version >= 2 ? r.NullableString() : null);

    private static void WriteInterfaceStatus(CodecWriter w, InterfaceStatus s)
    {
        w.String(s.Interface); w.Int(s.IfIndex); w.String(s.State); w.NullableString(s.XdpMode); w.NullableString(s.Error); w.Time(s.Since);
    }

    private static InterfaceStatus ReadInterfaceStatus(CodecReader r) => new(
        Interface: r.String(), IfIndex: r.Int(), State: r.String(), XdpMode: r.NullableString(), Error: r.NullableString(), Since: r.Time());
}

/// <summary>Writes the primitives of the format; the codec composes them per type.</summary>
internal sealed class CodecWriter(Stream stream)
{
    private readonly BinaryWriter _w = new(stream, CodecReader.Utf8, leaveOpen: true);

    public void Byte(byte value) => _w.Write(value);

    public void Bool(bool value) => _w.Write(value);

    public void Int(int value) => _w.Write7BitEncodedInt((value << 1) ^ (value >> 31));

    public void Long(long value) => _w.Write7BitEncodedInt64((value << 1) ^ (value >> 63));

    public void UInt(uint value) => _w.Write7BitEncodedInt((int)value);

    public void ULong(ulong value) => _w.Write7BitEncodedInt64((long)value);

    public void FixedUInt(uint value) => _w.Write(value);

    public void Double(double value) => _w.Write(value);

    public void String(string value) => _w.Write(value);

    public void Time(DateTimeOffset value)
    {
        _w.Write(value.UtcTicks);
        Int((int)(value.Offset.Ticks / TimeSpan.TicksPerMinute));
    }

    public void NullableByte(byte? value)
    {
        Bool(value.HasValue);
        if (value is { } v) Byte(v);
    }

    public void NullableInt(int? value)
    {
        Bool(value.HasValue);
        if (value is { } v) Int(v);
    }

    public void NullableTime(DateTimeOffset? value)
    {
        Bool(value.HasValue);
        if (value is { } v) Time(v);
    }

    public void NullableString(string? value) => Optional(value, static (w, s) => w.String(s));

    public void Optional<T>(T? value, Action<CodecWriter, T> write) where T : class
    {
        Bool(value is not null);
        if (value is not null) write(this, value);
    }

    public void List<T>(IReadOnlyList<T> items, Action<CodecWriter, T> write)
    {
        Int(items.Count);
        foreach (var item in items) write(this, item);
    }

    public void Map<T>(IReadOnlyDictionary<string, T> map, Action<CodecWriter, T> write)
    {
        Int(map.Count);
        foreach (var (key, value) in map)
        {
            String(key);
            write(this, value);
        }
    }

    public void Flush() => _w.Flush();
}

/// <summary>
/// Reads what <see cref="CodecWriter"/> wrote. Corrupt input ends in an <see cref="InvalidDataException"/> or
/// <see cref="EndOfStreamException"/>; the serializer turns either into a SerializationException.
/// </summary>
internal sealed class CodecReader(MemoryStream stream, byte version)
{
    internal static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly BinaryReader _r = new(stream, Utf8, leaveOpen: true);

    /// <summary>The format version of the payload being read: a field added in version N is read only if this is &gt;= N.</summary>
    public byte Version { get; } = version;

    public long Remaining => stream.Length - stream.Position;

    public byte Byte() => _r.ReadByte();

    public bool Bool() => _r.ReadByte() switch
    {
        0 => false,
        1 => true,
        var b => throw new InvalidDataException($"a flag or presence byte is {b}, not 0 or 1"),
    };

    public int Int()
    {
        var zigzag = (uint)_r.Read7BitEncodedInt();
        return (int)(zigzag >> 1) ^ -(int)(zigzag & 1);
    }

    public long Long()
    {
        var zigzag = (ulong)_r.Read7BitEncodedInt64();
        return (long)(zigzag >> 1) ^ -(long)(zigzag & 1);
    }

    public uint UInt() => (uint)_r.Read7BitEncodedInt();

    public ulong ULong() => (ulong)_r.Read7BitEncodedInt64();

    public uint FixedUInt() => _r.ReadUInt32();

    public double Double() => _r.ReadDouble();

    public string String() => _r.ReadString();

    public DateTimeOffset Time()
    {
        var utcTicks = _r.ReadInt64();
        var offset = TimeSpan.FromMinutes(Int());
        return new DateTimeOffset(utcTicks, TimeSpan.Zero).ToOffset(offset);
    }

    public T Enum<T>() where T : struct, Enum
    {
        var value = Int();
        var result = (T)(object)value; // our enums are int-backed
        return System.Enum.IsDefined(result) ? result : throw new InvalidDataException($"{value} is no {typeof(T).Name}");
    }

    public byte? NullableByte() => Bool() ? Byte() : null;

    public int? NullableInt() => Bool() ? Int() : null;

    public DateTimeOffset? NullableTime() => Bool() ? Time() : null;

    public string? NullableString() => Bool() ? String() : null;

    public T? Optional<T>(Func<CodecReader, T> read) where T : class => Bool() ? read(this) : null;

    public T[] List<T>(Func<CodecReader, T> read)
    {
        var items = new T[Count()];
        for (var i = 0; i < items.Length; i++) items[i] = read(this);
        return items;
    }

    public Dictionary<string, T> Map<T>(Func<CodecReader, T> read)
    {
        var count = Count();
        var map = new Dictionary<string, T>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var key = String();
            if (!map.TryAdd(key, read(this))) throw new InvalidDataException($"the key '{key}' appears twice");
        }
        return map;
    }

    // Every item takes at least one byte: a count beyond what is left is corrupt, and must not allocate.
    private int Count()
    {
        var count = Int();
        return count >= 0 && count <= Remaining ? count : throw new InvalidDataException($"a count of {count} with {Remaining} bytes left");
    }
}
