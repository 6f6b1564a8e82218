// The generators of this project are added one per file (SharedConstantsGenerator.cs, WireCodecGenerator.cs, ...).
namespace PacketScope.Generators;

internal static class GeneratorInfo
{
    public const string Tool = "PacketScope.Generators";
}
