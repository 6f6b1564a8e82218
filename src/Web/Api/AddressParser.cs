// The one parser of addresses and prefixes a client sends (rule fields, the address query of /api/connections and
// /api/icmp), and of whole numbers in text: strict forms only, so what one endpoint refuses no other one takes.
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace PacketScope.Web.Api;

public static class AddressParser
{
    private static readonly System.Text.RegularExpressions.Regex s_dottedQuad =
        new(@"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$");

    /// <summary>
    /// An IPv4 dotted quad or an IPv6 address, optionally /PREFIX; host bits are cleared (10.1.2.3/8 is 10.0.0.0/8).
    /// Refused: what IPAddress.TryParse also reads ("10" as 0.0.0.10, "127.1", "010.1.1.1" as octal, "0x7f.1"), zone
    /// ids (fe80::1%eth0: a zone means nothing in a packet), IPv4-mapped IPv6 (IPv4 packets never carry it).
    /// </summary>
    public static (IPNetwork Network, bool IsIpv6) Parse(string text, string field)
    {
        var slash = text.IndexOf('/');
        var addressText = slash < 0 ? text : text[..slash];
        var colon = addressText.Contains(':');
        if ((!colon && !s_dottedQuad.IsMatch(addressText)) || addressText.Contains('%') || !addressText.All(IsAddressChar)
            || !IPAddress.TryParse(addressText, out var address))
            throw new BadRequestException(field, $"'{text}' is not an IPv4/IPv6 address or CIDR prefix (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/64)");
        if (address.IsIPv4MappedToIPv6)
            throw new BadRequestException(field, $"'{text}' is an IPv4-mapped IPv6 address, which IPv4 packets never carry; write the IPv4 address");
        var ipv6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        var max = ipv6 ? 128 : 32;
        var prefix = max;
        if (slash >= 0 && (!TryWholeNumber(text[(slash + 1)..], out prefix) || prefix > max))
            throw new BadRequestException(field, $"'{text}' has a bad prefix length; {(ipv6 ? "IPv6" : "IPv4")} allows /0 to /{max}");
        return (new IPNetwork(address, prefix), ipv6);
    }

    /// <summary>The canonical text of <see cref="Parse"/>'s result: the address alone without a prefix, else NETWORK/PREFIX.</summary>
    public static string Canonical(string text, string field)
    {
        var (network, ipv6) = Parse(text, field);
        return text.Contains('/') ? network.ToString() : network.BaseAddress.ToString();
    }

    /// <summary>
    /// ASCII digits only (at most 9 of them): int.TryParse also takes trailing NULs ("1\0" is 1) and, with some styles,
    /// signs, spaces and other scripts' digits.
    /// </summary>
    public static bool TryWholeNumber(string text, out int value)
    {
        value = 0;
        if (text.Length is 0 or > 9 || !text.All(char.IsAsciiDigit))
            return false;
        value = int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        return true;
    }

    private static bool IsAddressChar(char c) => char.IsAsciiHexDigit(c) || c is '.' or ':';
}
