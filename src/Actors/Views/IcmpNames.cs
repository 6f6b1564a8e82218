// Names of ICMP and ICMPv6 message types, and which of them are errors that quote a packet.
namespace PacketScope.Actors.Views;

public static class IcmpNames
{
    public static string TypeName(byte family, byte type) => family == Native.Shared.Conntrack.AF_INET6
        ? type switch
        {
            1 => "destination_unreachable",
            2 => "packet_too_big",
            3 => "time_exceeded",
            4 => "parameter_problem",
            128 => "echo_request",
            129 => "echo_reply",
            133 => "router_solicitation",
            134 => "router_advertisement",
            135 => "neighbor_solicitation",
            136 => "neighbor_advertisement",
            137 => "redirect",
            143 => "mld2_report",
            _ => $"type_{type}",
        }
        : type switch
        {
            0 => "echo_reply",
            3 => "destination_unreachable",
            4 => "source_quench",
            5 => "redirect",
            8 => "echo_request",
            9 => "router_advertisement",
            10 => "router_solicitation",
            11 => "time_exceeded",
            12 => "parameter_problem",
            13 => "timestamp",
            14 => "timestamp_reply",
            _ => $"type_{type}",
        };

    public static bool IsError(byte family, byte type) => family == Native.Shared.Conntrack.AF_INET6
        ? type is >= 1 and <= 4
        : type is 3 or 4 or 5 or 11 or 12;

    public static bool IsEcho(byte family, byte type) => family == Native.Shared.Conntrack.AF_INET6
        ? type is 128 or 129
        : type is 0 or 8;
}
