// Marker for every message that may cross a node boundary; the cluster issue binds our serializer to it.
namespace PacketScope.Messages;

public interface IPacketScopeMessage;
