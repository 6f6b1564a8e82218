// The seed's built-in security examples, as disabled rules ready to add (GET /api/filters/presets).
using System.Text.Json;

namespace PacketScope.Web.Api.Filters;

public static class FilterPresets
{
    /// <summary>Each preset as the JSON a client would POST; all disabled, so adding one changes nothing until enabled.</summary>
    public static readonly IReadOnlyList<JsonElement> All = new[]
    {
        """{"rule_type":"icmp","protocol":"icmp","icmp_type":8,"icmp_code":0,"action":"drop","enabled":false,"comment":"Block all ICMP ping requests (Echo Request)"}""",
        """{"rule_type":"icmp","protocol":"icmp","icmp_type":3,"action":"drop","enabled":false,"comment":"Block ICMP Destination Unreachable messages"}""",
        """{"rule_type":"icmp","protocol":"icmp","icmp_type":4,"action":"drop","enabled":false,"comment":"Block ICMP Source Quench messages"}""",
        """{"rule_type":"icmp","protocol":"icmp","icmp_type":3,"inner_protocol":"udp","action":"drop","enabled":false,"comment":"Block ICMP Destination Unreachable with inner UDP packets"}""",
        """{"rule_type":"icmp","protocol":"icmp","icmp_type":3,"inner_protocol":"udp","inner_dst_port":53,"action":"drop","enabled":false,"comment":"Block ICMP errors exposing DNS queries"}""",
        """{"rule_type":"icmp","protocol":"icmp","icmp_type":11,"inner_protocol":"udp","action":"drop","enabled":false,"comment":"Block UDP traceroute attempts (ICMP Time Exceeded)"}""",
        """{"rule_type":"tcp","protocol":"tcp","dst_port":23,"action":"drop","enabled":false,"comment":"Block Telnet (insecure remote access)"}""",
        """{"rule_type":"tcp","protocol":"tcp","dst_port":135,"action":"drop","enabled":false,"comment":"Block RPC Endpoint Mapper (Windows vulnerability)"}""",
        """{"rule_type":"tcp","protocol":"tcp","dst_port":445,"action":"drop","enabled":false,"comment":"Block SMB/CIFS (ransomware vector)"}""",
        """{"rule_type":"tcp","protocol":"tcp","dst_port":139,"action":"drop","enabled":false,"comment":"Block NetBIOS Session Service"}""",
        """{"rule_type":"tcp","protocol":"tcp","dst_port":1433,"action":"drop","enabled":false,"comment":"Block MS SQL Server (external access)"}""",
        """{"rule_type":"tcp","protocol":"tcp","dst_port":3306,"action":"drop","enabled":false,"comment":"Block MySQL (external access)"}""",
        """{"rule_type":"tcp","protocol":"tcp","dst_port":3389,"action":"drop","enabled":false,"comment":"Block RDP (brute force target)"}""",
        """{"rule_type":"tcp","protocol":"tcp","dst_port":5900,"action":"drop","enabled":false,"comment":"Block VNC (insecure remote access)"}""",
        """{"rule_type":"tcp","protocol":"tcp","tcp_flags":2,"tcp_flags_mask":18,"action":"monitor","enabled":false,"comment":"Count TCP SYN-only segments (connection attempts, scans)"}""",
    }.Select(j => JsonDocument.Parse(j).RootElement.Clone()).ToList();
}
